/** The version plugins check their `meta.core` range against; kept equal to package.json by a test. */
export const CORE_VERSION = '0.1.0';
