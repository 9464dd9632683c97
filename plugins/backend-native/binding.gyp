{
  "targets": [
    {
      "target_name": "grpo_native",
      "sources": ["native/grpo_native.cc"],
      "cflags_cc": ["-O3", "-std=c++17", "-fno-exceptions", "-fno-math-errno"],
      "cflags_cc!": ["-fno-rtti"],
      "libraries": ["-lopenblas", "-lpthread"],
      "defines": ["NAPI_VERSION=8"]
    }
  ]
}
