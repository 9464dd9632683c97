// @grpo/plugin-backend-native: the N-API addon.
//
// Kernels for TensorFlow.js's wasm backend that run natively on the wasm module's heap: every
// function takes the heap (the WebAssembly.Memory's ArrayBuffer) and byte offsets into it, so no
// tensor data is copied between JavaScript, wasm and C++. Products go to OpenBLAS's cblas_sgemm
// (single-threaded calls, partitioned over a small thread pool of our own); the other kernels are
// plain loops split over the same pool.
//
// Every call is synchronous: the JavaScript thread waits, so the heap cannot grow (and move) while
// a kernel runs.

#include <cblas.h>
#include <node_api.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <condition_variable>
#include <cstdint>
#include <cstring>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define CPU_RELAX() _mm_pause()
#else
#define CPU_RELAX() std::this_thread::yield()
#endif

// OpenBLAS's own thread control (declared by its cblas.h; repeated for other cblas headers).
extern "C" void openblas_set_num_threads(int);
extern "C" char* openblas_get_config(void);
extern "C" char* openblas_get_corename(void);

namespace {

// ---------------------------------------------------------------------------------------------
// A small fork-join pool: the caller plus `n - 1` workers. A job is `tasks` independent pieces;
// every thread claims pieces from one counter until none is left, and the caller returns once
// every piece is done. A worker that is not running when a job is posted (the machine is busy)
// costs nothing: the caller claims its pieces. Workers spin briefly after a job (the next kernel
// usually follows within microseconds) and then sleep on a condition variable.

class Pool {
 public:
  ~Pool() { Resize(1); }

  int size() const { return size_; }

  void Resize(int n) {
    n = std::max(1, n);
    if (n == size_) return;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stop_.store(true, std::memory_order_release);
      generation_.fetch_add(1, std::memory_order_release);
    }
    wake_.notify_all();
    for (auto& t : workers_) t.join();
    workers_.clear();
    stop_.store(false, std::memory_order_release);
    size_ = n;
    // Workers start from the current generation, so that a job posted before a new thread first
    // runs is not missed.
    const uint64_t start = generation_.load(std::memory_order_acquire);
    for (int i = 1; i < n; i++) workers_.emplace_back([this, start] { Loop(start); });
  }

  // Runs f(task) for task in [0, tasks), spread over the pool; returns when all are done.
  void Run(int tasks, const std::function<void(int)>& f) {
    if (tasks <= 0) return;
    if (size_ == 1 || tasks == 1) {
      for (int i = 0; i < tasks; i++) f(i);
      return;
    }
    const uint64_t g = (generation_.load(std::memory_order_relaxed) + 1) & 0xffffffffu;
    job_ = &f;
    tasks_ = tasks;
    done_.store(0, std::memory_order_relaxed);
    claim_.store(g << 32, std::memory_order_release);
    // Sequentially consistent store and load (against the sleeper's increment then re-check), so
    // that either the worker sees the new generation or the caller sees it going to sleep.
    generation_.store(g);
    if (sleepers_.load() > 0) {
      std::lock_guard<std::mutex> lock(mutex_);
      wake_.notify_all();
    }
    Work(g);
    for (int spins = 0; done_.load(std::memory_order_acquire) < tasks; spins++) {
      if (spins < 4000) CPU_RELAX();
      else std::this_thread::yield();
    }
  }

 private:
  // Claims and runs pieces of job `g` until none is left (or a newer job replaced it).
  void Work(uint64_t g) {
    for (;;) {
      uint64_t v = claim_.load(std::memory_order_acquire);
      if ((v >> 32) != g) return;
      const int i = static_cast<int>(v & 0xffffffffu);
      if (i >= tasks_) return;
      if (!claim_.compare_exchange_weak(v, v + 1, std::memory_order_acq_rel)) continue;
      // Job g cannot finish before this piece does, so job_ is still g's.
      (*job_)(i);
      done_.fetch_add(1, std::memory_order_release);
    }
  }

  void Loop(uint64_t seen) {
    for (;;) {
      int spins = 0;
      uint64_t now;
      while ((now = generation_.load(std::memory_order_acquire)) == seen) {
        if (++spins < 20000) {
          CPU_RELAX();
          continue;
        }
        std::unique_lock<std::mutex> lock(mutex_);
        sleepers_.fetch_add(1);
        wake_.wait(lock, [&] { return generation_.load() != seen; });
        sleepers_.fetch_sub(1, std::memory_order_acq_rel);
      }
      seen = now;
      if (stop_.load(std::memory_order_acquire)) return;
      Work(now);
    }
  }

  int size_ = 1;
  std::vector<std::thread> workers_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::atomic<uint64_t> generation_{0};
  std::atomic<uint64_t> claim_{0};
  std::atomic<int> done_{0};
  std::atomic<int> sleepers_{0};
  std::atomic<bool> stop_{false};
  const std::function<void(int)>* job_ = nullptr;
  int tasks_ = 0;
};

Pool pool;
// Work below this many multiply-adds (or elements, for loops) runs on the calling thread alone.
double parallel_min_flops = 2.0e5;

// ---------------------------------------------------------------------------------------------
// N-API helpers.

#define CHECK(call)                                                          \
  do {                                                                       \
    if ((call) != napi_ok) {                                                 \
      napi_throw_error(env, nullptr, "grpo_native: N-API call failed: " #call); \
      return nullptr;                                                        \
    }                                                                        \
  } while (0)

struct Args {
  napi_env env;
  size_t argc = 32;
  napi_value argv[32];
  bool ok = true;

  Args(napi_env e, napi_callback_info info, size_t want) : env(e) {
    if (napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr) != napi_ok || argc < want) {
      napi_throw_type_error(env, nullptr, "grpo_native: wrong number of arguments");
      ok = false;
    }
  }

  // The heap: an ArrayBuffer (the wasm memory's buffer).
  uint8_t* Heap(size_t i, size_t* length) {
    void* data = nullptr;
    if (napi_get_arraybuffer_info(env, argv[i], &data, length) != napi_ok || data == nullptr) {
      napi_throw_type_error(env, nullptr, "grpo_native: expected an ArrayBuffer (the wasm heap)");
      ok = false;
      return nullptr;
    }
    return static_cast<uint8_t*>(data);
  }

  int64_t Int(size_t i) {
    int64_t v = 0;
    if (napi_get_value_int64(env, argv[i], &v) != napi_ok) {
      napi_throw_type_error(env, nullptr, "grpo_native: expected a number");
      ok = false;
    }
    return v;
  }

  double Num(size_t i) {
    double v = 0;
    if (napi_get_value_double(env, argv[i], &v) != napi_ok) {
      napi_throw_type_error(env, nullptr, "grpo_native: expected a number");
      ok = false;
    }
    return v;
  }
};

bool InBounds(napi_env env, size_t heap, int64_t offset, int64_t bytes) {
  if (offset < 0 || bytes < 0 || static_cast<uint64_t>(offset) + static_cast<uint64_t>(bytes) > heap || (offset & 3) != 0) {
    napi_throw_range_error(env, nullptr, "grpo_native: tensor outside the wasm heap");
    return false;
  }
  return true;
}

// ---------------------------------------------------------------------------------------------
// Products.

// One small product C = op(A)·op(B) ([M, K]·[K, N]) with plain loops the compiler vectorises:
// cheaper than a BLAS call (which costs microseconds of setup) for the decoding shapes (a few
// rows against a short KV cache).
void SmallGemm(int M, int N, int K, bool ta, bool tb, const float* a, const float* b, float* c) {
  float row[1024];
  for (int i = 0; i < M; i++) {
    const float* ai;
    if (ta) {
      for (int k = 0; k < K; k++) row[k] = a[static_cast<int64_t>(k) * M + i];
      ai = row;
    } else {
      ai = a + static_cast<int64_t>(i) * K;
    }
    float* ci = c + static_cast<int64_t>(i) * N;
    if (tb) {
      for (int j = 0; j < N; j++) {
        const float* bj = b + static_cast<int64_t>(j) * K;
        float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
        int k = 0;
        for (; k + 8 <= K; k += 8)
          for (int u = 0; u < 8; u++) acc[u] += ai[k + u] * bj[k + u];
        float sum = ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
        for (; k < K; k++) sum += ai[k] * bj[k];
        ci[j] = sum;
      }
    } else {
      for (int j = 0; j < N; j++) ci[j] = 0.0f;
      for (int k = 0; k < K; k++) {
        const float aik = ai[k];
        const float* bk = b + static_cast<int64_t>(k) * N;
        for (int j = 0; j < N; j++) ci[j] += aik * bk[j];
      }
    }
  }
}

// Products at most this big (M·N·K, with K ≤ 1024) use SmallGemm.
constexpr double kSmallGemm = 16384;

// C[b] = op(A[b]) · op(B[b]) for b in [0, batch): op(A) is [M, K], op(B) is [K, N], C is [M, N],
// all row-major and contiguous; A[b] starts at a + b·aStride (0: the same matrix for every b).
void Gemm(int64_t batch, int M, int N, int K, bool ta, bool tb, const float* a, int64_t aStride, const float* b, int64_t bStride, float* c) {
  const int lda = ta ? M : K;
  const int ldb = tb ? K : N;
  const CBLAS_TRANSPOSE opA = ta ? CblasTrans : CblasNoTrans;
  const CBLAS_TRANSPOSE opB = tb ? CblasTrans : CblasNoTrans;
  if (K == 0) {
    std::memset(c, 0, sizeof(float) * batch * M * N);
    return;
  }
  const double flops = static_cast<double>(batch) * M * N * K;
  const int threads = pool.size();
  const bool small = static_cast<double>(M) * N * K <= kSmallGemm && K <= 1024;
  auto one = [&](int64_t i) {
    if (small)
      SmallGemm(M, N, K, ta, tb, a + i * aStride, b + i * bStride, c + i * M * N);
    else
      cblas_sgemm(CblasRowMajor, opA, opB, M, N, K, 1.0f, a + i * aStride, lda, b + i * bStride, ldb, 0.0f, c + i * M * N, N);
  };
  if (threads == 1 || flops < parallel_min_flops) {
    for (int64_t i = 0; i < batch; i++) one(i);
    return;
  }
  if (batch >= threads) {
    // Whole products per task, in contiguous runs of the batch.
    const int tasks = static_cast<int>(std::min<int64_t>(batch, threads * 4));
    pool.Run(tasks, [&](int t) {
      const int64_t from = batch * t / tasks, to = batch * (t + 1) / tasks;
      for (int64_t i = from; i < to; i++) one(i);
    });
    return;
  }
  // Few products: split each one by rows of C (or by columns when there are few rows).
  const bool byRows = M >= N || M >= 8 * threads;
  const int extent = byRows ? M : N;
  const int parts = std::max(1, std::min(threads * 2, extent / 16));
  const int tasks = static_cast<int>(batch) * parts;
  pool.Run(tasks, [&](int t) {
    const int64_t i = t / parts;
    const int p = t % parts;
    // Blocks aligned to 16 rows/columns keep OpenBLAS's kernels on full panels.
    const int from = static_cast<int>(static_cast<int64_t>(extent) * p / parts) & ~15;
    const int to = p + 1 == parts ? extent : static_cast<int>(static_cast<int64_t>(extent) * (p + 1) / parts) & ~15;
    if (to <= from) return;
    const float* ai = a + i * aStride;
    const float* bi = b + i * bStride;
    float* ci = c + i * M * N;
    if (byRows) {
      const float* ap = ta ? ai + from : ai + static_cast<int64_t>(from) * K;
      cblas_sgemm(CblasRowMajor, opA, opB, to - from, N, K, 1.0f, ap, lda, bi, ldb, 0.0f, ci + static_cast<int64_t>(from) * N, N);
    } else {
      const float* bp = tb ? bi + static_cast<int64_t>(from) * K : bi + from;
      cblas_sgemm(CblasRowMajor, opA, opB, M, to - from, K, 1.0f, ai, lda, bp, ldb, 0.0f, ci + from, N);
    }
  });
}

// gemm(heap, batch, M, N, K, transA, transB, aOffset, aBatchStride, bOffset, bBatchStride, cOffset)
// Offsets in bytes, strides in elements (0 broadcasts one matrix over the batch).
napi_value JsGemm(napi_env env, napi_callback_info info) {
  Args args(env, info, 12);
  if (!args.ok) return nullptr;
  size_t heapBytes = 0;
  uint8_t* heap = args.Heap(0, &heapBytes);
  const int64_t batch = args.Int(1), M = args.Int(2), N = args.Int(3), K = args.Int(4);
  const bool ta = args.Int(5) != 0, tb = args.Int(6) != 0;
  const int64_t aOff = args.Int(7), aStride = args.Int(8), bOff = args.Int(9), bStride = args.Int(10), cOff = args.Int(11);
  if (!args.ok) return nullptr;
  if (batch < 0 || M < 0 || N < 0 || K < 0 || M > INT32_MAX || N > INT32_MAX || K > INT32_MAX) {
    napi_throw_range_error(env, nullptr, "grpo_native: bad matrix sizes");
    return nullptr;
  }
  if (batch == 0 || M == 0 || N == 0) return nullptr;
  const int64_t aBytes = 4 * ((batch - 1) * aStride + M * K), bBytes = 4 * ((batch - 1) * bStride + K * N), cBytes = 4 * batch * M * N;
  if (!InBounds(env, heapBytes, aOff, aBytes) || !InBounds(env, heapBytes, bOff, bBytes) || !InBounds(env, heapBytes, cOff, cBytes)) return nullptr;
  Gemm(batch, static_cast<int>(M), static_cast<int>(N), static_cast<int>(K), ta, tb, reinterpret_cast<const float*>(heap + aOff), aStride,
       reinterpret_cast<const float*>(heap + bOff), bStride, reinterpret_cast<float*>(heap + cOff));
  return nullptr;
}

// ---------------------------------------------------------------------------------------------
// Element-wise kernels. Shapes come from JavaScript already broadcast and collapsed: `rank`
// dimensions of the output (row-major) and, for each input, its element stride along each of
// them (0 where it is broadcast). The innermost dimension is the loop the compiler vectorises.

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define MULTIVERSION __attribute__((target_clones("avx2", "default")))
#else
#define MULTIVERSION
#endif

constexpr int kMaxRank = 8;

struct Layout {
  int rank = 0;
  int64_t shape[kMaxRank];
  int64_t sa[kMaxRank];
  int64_t sb[kMaxRank];
};

// exp(x) in float with a Cody–Waite range reduction and Cephes' polynomial (relative error below
// 1e-7 over the normal range): exp(x) = 2^n · p(r) with r = x − n·ln2, 2^n applied in two halves
// so that results near the ends of the float range (denormals, overflow to infinity) come out
// right. Below −104 it is 0; NaN stays NaN. Exp8 is the same on 8 lanes with AVX2 and FMA
// (picked at run time); FastExp serves the tails and CPUs without AVX2.
inline float FastExp(float x) {
  if (x != x) return x;
  if (x < -104.0f) return 0.0f;
  const float xc = x > 89.0f ? 89.0f : x;
  const float n = std::floor(xc * 1.44269504088896341f + 0.5f);
  const float r = xc - n * 0.693359375f + n * 2.12194440e-4f;
  const float r2 = r * r;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r2 + r + 1.0f;
  const int32_t ni = static_cast<int32_t>(n);
  const int32_t n1 = ni >> 1;
  const int32_t b1 = (n1 + 127) << 23, b2 = (ni - n1 + 127) << 23;
  float s1, s2;
  std::memcpy(&s1, &b1, 4);
  std::memcpy(&s2, &b2, 4);
  return p * s1 * s2;
}

#if defined(__x86_64__) && defined(__GNUC__)
#define HAVE_AVX2_PATH 1
#define AVX2 __attribute__((target("avx2,fma")))

AVX2 inline __m256 Exp8(__m256 x) {
  const __m256 xc = _mm256_min_ps(_mm256_max_ps(x, _mm256_set1_ps(-104.0f)), _mm256_set1_ps(89.0f));
  const __m256 n = _mm256_floor_ps(_mm256_fmadd_ps(xc, _mm256_set1_ps(1.44269504088896341f), _mm256_set1_ps(0.5f)));
  __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), xc);
  r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
  const __m256 r2 = _mm256_mul_ps(r, r);
  __m256 p = _mm256_set1_ps(1.9875691500e-4f);
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507e-3f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073e-3f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894e-2f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459e-1f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201e-1f));
  p = _mm256_add_ps(_mm256_fmadd_ps(p, r2, r), _mm256_set1_ps(1.0f));
  const __m256i ni = _mm256_cvttps_epi32(n);
  const __m256i n1 = _mm256_srai_epi32(ni, 1);
  const __m256i n2 = _mm256_sub_epi32(ni, n1);
  const __m256i bias = _mm256_set1_epi32(127);
  const __m256 s1 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(n1, bias), 23));
  const __m256 s2 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(n2, bias), 23));
  __m256 y = _mm256_mul_ps(_mm256_mul_ps(p, s1), s2);
  y = _mm256_blendv_ps(y, _mm256_setzero_ps(), _mm256_cmp_ps(x, _mm256_set1_ps(-104.0f), _CMP_LT_OQ));
  return _mm256_blendv_ps(y, x, _mm256_cmp_ps(x, x, _CMP_UNORD_Q));
}

// mode 0: exp(x); mode 1: sigmoid(x) = 1 / (1 + exp(−x)).
AVX2 void ExpRangeAvx2(const float* x, float* out, int64_t n, int mode) {
  int64_t i = 0;
  const __m256 one = _mm256_set1_ps(1.0f);
  for (; i + 8 <= n; i += 8) {
    const __m256 v = _mm256_loadu_ps(x + i);
    if (mode == 0)
      _mm256_storeu_ps(out + i, Exp8(v));
    else
      _mm256_storeu_ps(out + i, _mm256_div_ps(one, _mm256_add_ps(one, Exp8(_mm256_sub_ps(_mm256_setzero_ps(), v)))));
  }
  for (; i < n; i++) out[i] = mode == 0 ? FastExp(x[i]) : 1.0f / (1.0f + FastExp(-x[i]));
}

AVX2 void SoftmaxRowsAvx2(const float* x, float* out, int64_t from, int64_t to, int64_t n) {
  for (int64_t row = from; row < to; row++) {
    const float* xr = x + row * n;
    float* o = out + row * n;
    int64_t i = 0;
    __m256 vm = _mm256_set1_ps(-INFINITY);
    for (; i + 8 <= n; i += 8) vm = _mm256_max_ps(vm, _mm256_loadu_ps(xr + i));
    float lanes[8];
    _mm256_storeu_ps(lanes, vm);
    float m = -INFINITY;
    for (int k = 0; k < 8; k++) m = lanes[k] > m ? lanes[k] : m;
    for (; i < n; i++) m = xr[i] > m ? xr[i] : m;
    const __m256 mv = _mm256_set1_ps(m);
    __m256 vs = _mm256_setzero_ps();
    i = 0;
    for (; i + 8 <= n; i += 8) {
      const __m256 e = Exp8(_mm256_sub_ps(_mm256_loadu_ps(xr + i), mv));
      _mm256_storeu_ps(o + i, e);
      vs = _mm256_add_ps(vs, e);
    }
    _mm256_storeu_ps(lanes, vs);
    float sum = ((lanes[0] + lanes[4]) + (lanes[1] + lanes[5])) + ((lanes[2] + lanes[6]) + (lanes[3] + lanes[7]));
    for (; i < n; i++) {
      const float e = FastExp(xr[i] - m);
      o[i] = e;
      sum += e;
    }
    const __m256 inv = _mm256_set1_ps(1.0f / sum);
    i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(o + i, _mm256_mul_ps(_mm256_loadu_ps(o + i), inv));
    for (; i < n; i++) o[i] *= 1.0f / sum;
  }
}

const bool kAvx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#else
const bool kAvx2 = false;
#endif

enum BinaryOp { kAdd = 0, kSub = 1, kMul = 2, kDiv = 3, kSquaredDifference = 4, kMaximum = 5, kMinimum = 6 };

template <int OP>
inline float Apply(float x, float y) {
  if constexpr (OP == kAdd) return x + y;
  if constexpr (OP == kSub) return x - y;
  if constexpr (OP == kMul) return x * y;
  if constexpr (OP == kDiv) return x / y;
  if constexpr (OP == kSquaredDifference) return (x - y) * (x - y);
  if constexpr (OP == kMaximum) return (x > y || x != x) ? x : y;
  return (x < y || x != x) ? x : y;
}

template <int OP>
MULTIVERSION void BinaryRow(const float* a, int64_t sa, const float* b, int64_t sb, float* out, int64_t n) {
  if (sa == 1 && sb == 1) {
    for (int64_t i = 0; i < n; i++) out[i] = Apply<OP>(a[i], b[i]);
  } else if (sa == 1 && sb == 0) {
    const float y = b[0];
    for (int64_t i = 0; i < n; i++) out[i] = Apply<OP>(a[i], y);
  } else if (sa == 0 && sb == 1) {
    const float x = a[0];
    for (int64_t i = 0; i < n; i++) out[i] = Apply<OP>(x, b[i]);
  } else {
    for (int64_t i = 0; i < n; i++) out[i] = Apply<OP>(a[i * sa], b[i * sb]);
  }
}

// Runs row(outRow, aOffset, bOffset) for every innermost row of the layout, over the pool.
template <typename Row>
void ForRows(const Layout& l, Row row) {
  const int r = l.rank;
  const int64_t inner = l.shape[r - 1];
  int64_t rows = 1;
  for (int d = 0; d < r - 1; d++) rows *= l.shape[d];
  auto range = [&](int64_t from, int64_t to) {
    for (int64_t q = from; q < to; q++) {
      int64_t rem = q, oa = 0, ob = 0;
      for (int d = r - 2; d >= 0; d--) {
        const int64_t i = rem % l.shape[d];
        rem /= l.shape[d];
        oa += i * l.sa[d];
        ob += i * l.sb[d];
      }
      row(q * inner, oa, ob);
    }
  };
  const double work = static_cast<double>(rows) * inner;
  if (pool.size() == 1 || work < parallel_min_flops || rows == 1) {
    if (rows == 1 && pool.size() > 1 && work >= parallel_min_flops) {
      // One long row: split it instead.
      const int tasks = pool.size() * 2;
      pool.Run(tasks, [&](int t) {
        const int64_t from = inner * t / tasks, to = inner * (t + 1) / tasks;
        row.part(from, to);
      });
      return;
    }
    range(0, rows);
    return;
  }
  const int tasks = static_cast<int>(std::min<int64_t>(rows, pool.size() * 4));
  pool.Run(tasks, [&](int t) { range(rows * t / tasks, rows * (t + 1) / tasks); });
}

template <int OP>
void Binary(const Layout& l, const float* a, const float* b, float* out) {
  const int r = l.rank;
  const int64_t inner = l.shape[r - 1];
  const int64_t ia = l.sa[r - 1], ib = l.sb[r - 1];
  struct {
    const float *a, *b;
    float* out;
    int64_t inner, ia, ib;
    void operator()(int64_t o, int64_t oa, int64_t ob) const { BinaryRow<OP>(a + oa, ia, b + ob, ib, out + o, inner); }
    void part(int64_t from, int64_t to) const { BinaryRow<OP>(a + from * ia, ia, b + from * ib, ib, out + from, to - from); }
  } row{a, b, out, inner, ia, ib};
  ForRows(l, row);
}

enum UnaryOp { kSigmoid = 0, kExp = 1, kSquare = 2, kNeg = 3, kRsqrt = 4, kSqrt = 5, kLog = 6, kRelu = 7, kTanh = 8, kReciprocal = 9, kAbs = 10 };

template <int OP>
inline float UnaryApply(float v) {
  if constexpr (OP == kSigmoid) return 1.0f / (1.0f + FastExp(-v));
  if constexpr (OP == kExp) return FastExp(v);
  if constexpr (OP == kSquare) return v * v;
  if constexpr (OP == kNeg) return -v;
  if constexpr (OP == kRsqrt) return 1.0f / std::sqrt(v);
  if constexpr (OP == kSqrt) return std::sqrt(v);
  if constexpr (OP == kLog) return std::log(v);
  if constexpr (OP == kRelu) return v > 0.0f ? v : (v != v ? v : 0.0f);
  if constexpr (OP == kTanh) return std::tanh(v);
  if constexpr (OP == kReciprocal) return 1.0f / v;
  if constexpr (OP == kAbs) return std::fabs(v);
  return v;
}

template <int OP>
MULTIVERSION void UnaryRange(const float* __restrict x, float* __restrict out, int64_t n) {
#ifdef HAVE_AVX2_PATH
  if constexpr (OP == kExp || OP == kSigmoid) {
    if (kAvx2) {
      ExpRangeAvx2(x, out, n, OP == kExp ? 0 : 1);
      return;
    }
  }
#endif
  for (int64_t i = 0; i < n; i++) out[i] = UnaryApply<OP>(x[i]);
}

template <int OP>
void Unary(const float* x, float* out, int64_t n) {
  if (pool.size() == 1 || n < parallel_min_flops) {
    UnaryRange<OP>(x, out, n);
    return;
  }
  const int tasks = pool.size() * 2;
  pool.Run(tasks, [&](int t) {
    const int64_t from = (n * t / tasks) & ~int64_t{15}, to = t + 1 == tasks ? n : (n * (t + 1) / tasks) & ~int64_t{15};
    if (to > from) UnaryRange<OP>(x + from, out + from, to - from);
  });
}

// Softmax over the last axis of [rows, n].
void SoftmaxRows(const float* x, float* out, int64_t from, int64_t to, int64_t n) {
#ifdef HAVE_AVX2_PATH
  if (kAvx2) {
    SoftmaxRowsAvx2(x, out, from, to, n);
    return;
  }
#endif
  for (int64_t r = from; r < to; r++) {
    const float* xr = x + r * n;
    float* o = out + r * n;
    float m = -INFINITY;
    for (int64_t i = 0; i < n; i++) m = xr[i] > m ? xr[i] : m;
    float sum = 0;
    for (int64_t i = 0; i < n; i++) {
      const float e = FastExp(xr[i] - m);
      o[i] = e;
      sum += e;
    }
    const float inv = 1.0f / sum;
    for (int64_t i = 0; i < n; i++) o[i] *= inv;
  }
}

// out[perm-ordered] = x: out dimension d is x's dimension perm[d]. Collapsed by JavaScript;
// `l.sa` holds x's stride for each output dimension.
void Transpose(const Layout& l, const float* x, float* out) {
  const int r = l.rank;
  const int64_t inner = l.shape[r - 1];
  const int64_t si = l.sa[r - 1];
  struct {
    const float* x;
    float* out;
    int64_t inner, si;
    void operator()(int64_t o, int64_t oa, int64_t) const {
      const float* src = x + oa;
      float* dst = out + o;
      if (si == 1)
        std::memcpy(dst, src, sizeof(float) * inner);
      else
        for (int64_t i = 0; i < inner; i++) dst[i] = src[i * si];
    }
    void part(int64_t from, int64_t to) const {
      for (int64_t i = from; i < to; i++) out[i] = x[i * si];
    }
  } row{x, out, inner, si};
  ForRows(l, row);
}

bool ReadLayout(napi_env env, napi_value value, Layout* l, bool two) {
  napi_typedarray_type type;
  size_t length;
  void* data;
  napi_value buffer;
  size_t byteOffset;
  if (napi_get_typedarray_info(env, value, &type, &length, &data, &buffer, &byteOffset) != napi_ok || type != napi_float64_array) {
    napi_throw_type_error(env, nullptr, "grpo_native: expected a Float64Array layout");
    return false;
  }
  const double* v = static_cast<const double*>(data);
  const int rank = length > 0 ? static_cast<int>(v[0]) : 0;
  if (rank < 1 || rank > kMaxRank || length < static_cast<size_t>(1 + rank * (two ? 3 : 2))) {
    napi_throw_range_error(env, nullptr, "grpo_native: bad layout");
    return false;
  }
  l->rank = rank;
  for (int d = 0; d < rank; d++) {
    l->shape[d] = static_cast<int64_t>(v[1 + d]);
    l->sa[d] = static_cast<int64_t>(v[1 + rank + d]);
    l->sb[d] = two ? static_cast<int64_t>(v[1 + 2 * rank + d]) : 0;
  }
  return true;
}

// A Float64Array argument of `length` values (or of `alt` values when alt > 0): its data, or null
// after throwing a TypeError that names the function and what it expects.
const double* ReadDoubles(napi_env env, napi_value value, size_t length, const char* what, size_t* got = nullptr, size_t alt = 0) {
  napi_typedarray_type type;
  size_t n;
  void* data;
  napi_value buffer;
  size_t byteOffset;
  if (napi_get_typedarray_info(env, value, &type, &n, &data, &buffer, &byteOffset) != napi_ok || type != napi_float64_array || (n != length && (alt == 0 || n != alt))) {
    napi_throw_type_error(env, nullptr, what);
    return nullptr;
  }
  if (got) *got = n;
  return static_cast<const double*>(data);
}

// Bytes spanned by an operand with these strides (its largest offset + 1 element).
int64_t Span(const Layout& l, const int64_t* stride) {
  int64_t last = 0;
  for (int d = 0; d < l.rank; d++) last += (l.shape[d] - 1) * stride[d];
  return 4 * (last + 1);
}

int64_t Count(const Layout& l) {
  int64_t n = 1;
  for (int d = 0; d < l.rank; d++) n *= l.shape[d];
  return n;
}

// binary(heap, op, layout, aOffset, bOffset, outOffset)
napi_value JsBinary(napi_env env, napi_callback_info info) {
  Args args(env, info, 6);
  if (!args.ok) return nullptr;
  size_t heapBytes = 0;
  uint8_t* heap = args.Heap(0, &heapBytes);
  const int64_t op = args.Int(1);
  Layout l;
  if (!args.ok || !ReadLayout(env, args.argv[2], &l, true)) return nullptr;
  const int64_t aOff = args.Int(3), bOff = args.Int(4), oOff = args.Int(5);
  if (!args.ok) return nullptr;
  const int64_t n = Count(l);
  if (n == 0) return nullptr;
  if (!InBounds(env, heapBytes, aOff, Span(l, l.sa)) || !InBounds(env, heapBytes, bOff, Span(l, l.sb)) || !InBounds(env, heapBytes, oOff, 4 * n)) return nullptr;
  const float* a = reinterpret_cast<const float*>(heap + aOff);
  const float* b = reinterpret_cast<const float*>(heap + bOff);
  float* o = reinterpret_cast<float*>(heap + oOff);
  switch (op) {
    case kAdd: Binary<kAdd>(l, a, b, o); break;
    case kSub: Binary<kSub>(l, a, b, o); break;
    case kMul: Binary<kMul>(l, a, b, o); break;
    case kDiv: Binary<kDiv>(l, a, b, o); break;
    case kSquaredDifference: Binary<kSquaredDifference>(l, a, b, o); break;
    case kMaximum: Binary<kMaximum>(l, a, b, o); break;
    case kMinimum: Binary<kMinimum>(l, a, b, o); break;
    default: napi_throw_range_error(env, nullptr, "grpo_native: unknown binary op");
  }
  return nullptr;
}

// unary(heap, op, n, xOffset, outOffset)
napi_value JsUnary(napi_env env, napi_callback_info info) {
  Args args(env, info, 5);
  if (!args.ok) return nullptr;
  size_t heapBytes = 0;
  uint8_t* heap = args.Heap(0, &heapBytes);
  const int64_t op = args.Int(1), n = args.Int(2), xOff = args.Int(3), oOff = args.Int(4);
  if (!args.ok) return nullptr;
  if (n <= 0) return nullptr;
  if (!InBounds(env, heapBytes, xOff, 4 * n) || !InBounds(env, heapBytes, oOff, 4 * n)) return nullptr;
  const float* x = reinterpret_cast<const float*>(heap + xOff);
  float* o = reinterpret_cast<float*>(heap + oOff);
  switch (op) {
    case kSigmoid: Unary<kSigmoid>(x, o, n); break;
    case kExp: Unary<kExp>(x, o, n); break;
    case kSquare: Unary<kSquare>(x, o, n); break;
    case kNeg: Unary<kNeg>(x, o, n); break;
    case kRsqrt: Unary<kRsqrt>(x, o, n); break;
    case kSqrt: Unary<kSqrt>(x, o, n); break;
    case kLog: Unary<kLog>(x, o, n); break;
    case kRelu: Unary<kRelu>(x, o, n); break;
    case kTanh: Unary<kTanh>(x, o, n); break;
    case kReciprocal: Unary<kReciprocal>(x, o, n); break;
    case kAbs: Unary<kAbs>(x, o, n); break;
    default: napi_throw_range_error(env, nullptr, "grpo_native: unknown unary op");
  }
  return nullptr;
}

// softmax(heap, rows, n, xOffset, outOffset)
napi_value JsSoftmax(napi_env env, napi_callback_info info) {
  Args args(env, info, 5);
  if (!args.ok) return nullptr;
  size_t heapBytes = 0;
  uint8_t* heap = args.Heap(0, &heapBytes);
  const int64_t rows = args.Int(1), n = args.Int(2), xOff = args.Int(3), oOff = args.Int(4);
  if (!args.ok) return nullptr;
  if (rows <= 0 || n <= 0) return nullptr;
  if (!InBounds(env, heapBytes, xOff, 4 * rows * n) || !InBounds(env, heapBytes, oOff, 4 * rows * n)) return nullptr;
  const float* x = reinterpret_cast<const float*>(heap + xOff);
  float* o = reinterpret_cast<float*>(heap + oOff);
  if (pool.size() == 1 || static_cast<double>(rows) * n < parallel_min_flops || rows == 1) {
    SoftmaxRows(x, o, 0, rows, n);
    return nullptr;
  }
  const int tasks = static_cast<int>(std::min<int64_t>(rows, pool.size() * 4));
  pool.Run(tasks, [&](int t) { SoftmaxRows(x, o, rows * t / tasks, rows * (t + 1) / tasks, n); });
  return nullptr;
}

// transpose(heap, layout, xOffset, outOffset): layout holds the output's shape and x's strides.
napi_value JsTranspose(napi_env env, napi_callback_info info) {
  Args args(env, info, 4);
  if (!args.ok) return nullptr;
  size_t heapBytes = 0;
  uint8_t* heap = args.Heap(0, &heapBytes);
  Layout l;
  if (!args.ok || !ReadLayout(env, args.argv[1], &l, false)) return nullptr;
  const int64_t xOff = args.Int(2), oOff = args.Int(3);
  if (!args.ok) return nullptr;
  const int64_t n = Count(l);
  if (n == 0) return nullptr;
  if (!InBounds(env, heapBytes, xOff, Span(l, l.sa)) || !InBounds(env, heapBytes, oOff, 4 * n)) return nullptr;
  Transpose(l, reinterpret_cast<const float*>(heap + xOff), reinterpret_cast<float*>(heap + oOff));
  return nullptr;
}

// ---------------------------------------------------------------------------------------------
// One decoding step of attention for n sequences, with the keys and values of each distinct
// prompt stored once and those of the generated tokens in a preallocated per-sequence cache.
//
// q [n, H, hd] (rotary embedding and 1/√hd applied); promptK/promptV [P, Hkv, Pmax, hd] (the
// prefill's keys and values of the P prompts, left-padded to Pmax); genK/genV [n, Hkv, cap, hd];
// kNew/vNew [n, Hkv, hd]; pads [n] and rowPrompt [n] (int32). Position l < Pmax of row r is
// promptK[rowPrompt[r], ·, l], position l ≥ Pmax is genK[r, ·, l − Pmax]. Writes kNew and vNew
// at position L (in place), then for each row and head attends over positions pads[r] .. L
// (earlier ones are left padding) and writes out [n, H·hd]. Query head h uses kv head h / (H / Hkv).

struct DecodeShape {
  int64_t n, H, Hkv, P, Pmax, cap, hd, L;
};

inline float Dot(const float* a, const float* b, int64_t n) {
  // Eight partial sums, so that the compiler can vectorise the product.
  float part[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int64_t d = 0;
  for (; d + 8 <= n; d += 8)
    for (int u = 0; u < 8; u++) part[u] += a[d + u] * b[d + u];
  float acc = ((part[0] + part[4]) + (part[1] + part[5])) + ((part[2] + part[6]) + (part[3] + part[7]));
  for (; d < n; d++) acc += a[d] * b[d];
  return acc;
}

// One query against positions [from, to) of a key block: scores[l] = q·K[l]; returns the max.
template <int HD>
inline float Scores(const float* q, const float* K, int64_t hd, int64_t from, int64_t to, float* scores, float m) {
  const int64_t n = HD > 0 ? HD : hd;
  for (int64_t l = from; l < to; l++) {
    const float s = Dot(q, K + l * n, n);  // n is HD when HD > 0
    scores[l] = s;
    m = s > m ? s : m;
  }
  return m;
}

// o += Σ_l p[l] · V[l] over positions [from, to), with the accumulator in registers for fixed HD.
template <int HD>
inline void Mix(const float* p, const float* V, int64_t hd, int64_t from, int64_t to, float* o) {
  if constexpr (HD > 0) {
    float acc[HD];
    for (int d = 0; d < HD; d++) acc[d] = o[d];
    for (int64_t l = from; l < to; l++) {
      const float w = p[l];
      const float* vl = V + l * HD;
      for (int d = 0; d < HD; d++) acc[d] += w * vl[d];
    }
    for (int d = 0; d < HD; d++) o[d] = acc[d];
  } else {
    for (int64_t l = from; l < to; l++) {
      const float w = p[l];
      const float* vl = V + l * hd;
      for (int64_t d = 0; d < hd; d++) o[d] += w * vl[d];
    }
  }
}

template <int HD>
MULTIVERSION void DecodeAttentionRows(int64_t from, int64_t to, const DecodeShape& z, const float* q, const float* pk, const float* pv, float* gk,
                                      float* gv, const float* kn, const float* vn, const int32_t* pads, const int32_t* rowPrompt, float* out,
                                      float* scores) {
  const int64_t rep = z.H / z.Hkv, hd = HD > 0 ? HD : z.hd, L = z.L, Pmax = z.Pmax;
  for (int64_t r = from; r < to; r++) {
    const int64_t pad = std::max<int64_t>(0, std::min<int64_t>(pads[r], L));
    const int64_t prompt = std::max<int64_t>(0, std::min<int64_t>(rowPrompt[r], z.P - 1));
    const int64_t split = std::max(pad, Pmax);  // positions [pad, split) are the prompt's, [split, L] the row's
    for (int64_t g = 0; g < z.Hkv; g++) {
      const float* PK = pk + (prompt * z.Hkv + g) * Pmax * hd;
      const float* PV = pv + (prompt * z.Hkv + g) * Pmax * hd;
      float* GK = gk + (r * z.Hkv + g) * z.cap * hd;
      float* GV = gv + (r * z.Hkv + g) * z.cap * hd;
      std::memcpy(GK + (L - Pmax) * hd, kn + (r * z.Hkv + g) * hd, sizeof(float) * hd);
      std::memcpy(GV + (L - Pmax) * hd, vn + (r * z.Hkv + g) * hd, sizeof(float) * hd);
      // Generated positions as if they followed the prompt's: index l − Pmax of GK.
      const float* GKs = GK - Pmax * hd;
      const float* GVs = GV - Pmax * hd;
      for (int64_t j = 0; j < rep; j++) {
        const int64_t h = g * rep + j;
        const float* qh = q + (r * z.H + h) * hd;
        float m = Scores<HD>(qh, PK, hd, pad, std::min(split, L + 1), scores, -INFINITY);
        m = Scores<HD>(qh, GKs, hd, split, L + 1, scores, m);
        const int64_t count = L - pad + 1;
        float* sc = scores + pad;
        for (int64_t l = 0; l < count; l++) sc[l] -= m;
#ifdef HAVE_AVX2_PATH
        if (kAvx2)
          ExpRangeAvx2(sc, sc, count, 0);
        else
#endif
          for (int64_t l = 0; l < count; l++) sc[l] = FastExp(sc[l]);
        float sum = 0;
        for (int64_t l = 0; l < count; l++) sum += sc[l];
        const float inv = 1.0f / sum;
        for (int64_t l = 0; l < count; l++) sc[l] *= inv;
        float* o = out + (r * z.H + h) * hd;
        for (int64_t d = 0; d < hd; d++) o[d] = 0;
        Mix<HD>(scores, PV, hd, pad, std::min(split, L + 1), o);
        Mix<HD>(scores, GVs, hd, split, L + 1, o);
      }
    }
  }
}

#ifdef HAVE_AVX2_PATH
AVX2 inline float HorizontalSum(__m256 v) {
  const __m128 lo = _mm256_castps256_ps128(v), hi = _mm256_extractf128_ps(v, 1);
  __m128 s = _mm_add_ps(lo, hi);
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

// DecodeAttentionRows for head sizes that are multiples of 8, with AVX2 and FMA: the query and the
// output accumulator stay in registers.
template <int HD>
AVX2 void DecodeAttentionRowsAvx2(int64_t from, int64_t to, const DecodeShape& z, const float* q, const float* pk, const float* pv, float* gk,
                                  float* gv, const float* kn, const float* vn, const int32_t* pads, const int32_t* rowPrompt, float* out,
                                  float* scores) {
  constexpr int W = HD / 8;
  const int64_t rep = z.H / z.Hkv, L = z.L, Pmax = z.Pmax;
  for (int64_t r = from; r < to; r++) {
    const int64_t pad = std::max<int64_t>(0, std::min<int64_t>(pads[r], L));
    const int64_t prompt = std::max<int64_t>(0, std::min<int64_t>(rowPrompt[r], z.P - 1));
    const int64_t split = std::max(pad, Pmax);
    for (int64_t g = 0; g < z.Hkv; g++) {
      const float* PK = pk + (prompt * z.Hkv + g) * Pmax * HD;
      const float* PV = pv + (prompt * z.Hkv + g) * Pmax * HD;
      float* GK = gk + (r * z.Hkv + g) * z.cap * HD;
      float* GV = gv + (r * z.Hkv + g) * z.cap * HD;
      std::memcpy(GK + (L - Pmax) * HD, kn + (r * z.Hkv + g) * HD, sizeof(float) * HD);
      std::memcpy(GV + (L - Pmax) * HD, vn + (r * z.Hkv + g) * HD, sizeof(float) * HD);
      const float* GKs = GK - Pmax * HD;
      const float* GVs = GV - Pmax * HD;
      for (int64_t j = 0; j < rep; j++) {
        const int64_t h = g * rep + j;
        const float* qh = q + (r * z.H + h) * HD;
        __m256 qv[W];
        for (int w = 0; w < W; w++) qv[w] = _mm256_loadu_ps(qh + 8 * w);
        float m = -INFINITY;
        for (int64_t l = pad; l <= L; l++) {
          const float* kl = l < split ? PK + l * HD : GKs + l * HD;
          __m256 acc = _mm256_mul_ps(qv[0], _mm256_loadu_ps(kl));
          for (int w = 1; w < W; w++) acc = _mm256_fmadd_ps(qv[w], _mm256_loadu_ps(kl + 8 * w), acc);
          const float sv = HorizontalSum(acc);
          scores[l] = sv;
          m = sv > m ? sv : m;
        }
        const int64_t count = L - pad + 1;
        float* sc = scores + pad;
        for (int64_t l = 0; l < count; l++) sc[l] -= m;
        ExpRangeAvx2(sc, sc, count, 0);
        float sum = 0;
        for (int64_t l = 0; l < count; l++) sum += sc[l];
        const float inv = 1.0f / sum;
        __m256 ov[W];
        for (int w = 0; w < W; w++) ov[w] = _mm256_setzero_ps();
        for (int64_t l = pad; l <= L; l++) {
          const __m256 pw = _mm256_set1_ps(scores[l] * inv);
          const float* vl = l < split ? PV + l * HD : GVs + l * HD;
          for (int w = 0; w < W; w++) ov[w] = _mm256_fmadd_ps(pw, _mm256_loadu_ps(vl + 8 * w), ov[w]);
        }
        float* o = out + (r * z.H + h) * HD;
        for (int w = 0; w < W; w++) _mm256_storeu_ps(o + 8 * w, ov[w]);
      }
    }
  }
}
#endif

// decodeAttention(heap, shape: Float64Array [n, H, Hkv, P, Pmax, cap, hd, L],
//                 offsets: Float64Array [q, promptK, promptV, genK, genV, kNew, vNew, pads, rowPrompt, out])
napi_value JsDecodeAttention(napi_env env, napi_callback_info info) {
  Args args(env, info, 3);
  if (!args.ok) return nullptr;
  size_t heapBytes = 0;
  uint8_t* heap = args.Heap(0, &heapBytes);
  if (!args.ok) return nullptr;
  const double* sv = ReadDoubles(env, args.argv[1], 8, "grpo_native: decodeAttention expects a Float64Array of 8 sizes");
  if (!sv) return nullptr;
  const double* ov = ReadDoubles(env, args.argv[2], 10, "grpo_native: decodeAttention expects a Float64Array of 10 offsets");
  if (!ov) return nullptr;
  DecodeShape z{static_cast<int64_t>(sv[0]), static_cast<int64_t>(sv[1]), static_cast<int64_t>(sv[2]), static_cast<int64_t>(sv[3]),
                static_cast<int64_t>(sv[4]), static_cast<int64_t>(sv[5]), static_cast<int64_t>(sv[6]), static_cast<int64_t>(sv[7])};
  if (z.n <= 0) return nullptr;
  if (z.H < 1 || z.Hkv < 1 || z.H % z.Hkv != 0 || z.hd < 1 || z.P < 1 || z.Pmax < 0 || z.L < z.Pmax || z.L - z.Pmax >= z.cap || z.L > (1 << 20)) {
    napi_throw_range_error(env, nullptr, "grpo_native: bad decode attention sizes");
    return nullptr;
  }
  int64_t off[10];
  for (int i = 0; i < 10; i++) off[i] = static_cast<int64_t>(ov[i]);
  const int64_t promptBytes = 4 * z.P * z.Hkv * std::max<int64_t>(z.Pmax, 1) * z.hd, genBytes = 4 * z.n * z.Hkv * z.cap * z.hd;
  const int64_t bytes[10] = {4 * z.n * z.H * z.hd, promptBytes, promptBytes, genBytes, genBytes, 4 * z.n * z.Hkv * z.hd, 4 * z.n * z.Hkv * z.hd,
                             4 * z.n, 4 * z.n, 4 * z.n * z.H * z.hd};
  for (int i = 0; i < 10; i++)
    if (!InBounds(env, heapBytes, off[i], (i == 1 || i == 2) && z.Pmax == 0 ? 0 : bytes[i])) return nullptr;
  const auto f = [&](int i) { return reinterpret_cast<float*>(heap + off[i]); };
  const int32_t* pads = reinterpret_cast<const int32_t*>(heap + off[7]);
  const int32_t* rowPrompt = reinterpret_cast<const int32_t*>(heap + off[8]);
  const double work = static_cast<double>(z.n) * z.H * (z.L + 1) * z.hd * 2;
  auto rows = [&](int64_t from, int64_t to) {
    std::vector<float> scores(z.L + 1);
    auto run = z.hd == 32 ? DecodeAttentionRows<32> : z.hd == 64 ? DecodeAttentionRows<64> : z.hd == 128 ? DecodeAttentionRows<128> : DecodeAttentionRows<0>;
#ifdef HAVE_AVX2_PATH
    if (kAvx2 && z.hd == 32) run = DecodeAttentionRowsAvx2<32>;
    if (kAvx2 && z.hd == 64) run = DecodeAttentionRowsAvx2<64>;
    if (kAvx2 && z.hd == 128) run = DecodeAttentionRowsAvx2<128>;
#endif
    run(from, to, z, f(0), f(1), f(2), f(3), f(4), f(5), f(6), pads, rowPrompt, f(9), scores.data());
  };
  if (pool.size() == 1 || work < parallel_min_flops || z.n == 1) {
    rows(0, z.n);
    return nullptr;
  }
  const int tasks = static_cast<int>(std::min<int64_t>(z.n, pool.size() * 4));
  pool.Run(tasks, [&](int t) { rows(z.n * t / tasks, z.n * (t + 1) / tasks); });
  return nullptr;
}

// ---------------------------------------------------------------------------------------------
// Rotary embedding (the kernel `GrpoRope`), rotate-half layout, h = hd / 2, per row of hd values:
//   forward:  out[j] = x[j]·c[j] − x[j+h]·s[j]       out[j+h] = x[j+h]·c[j+h] + x[j]·s[j+h]
//   backward: dx[j]  = dy[j]·c[j] + dy[j+h]·s[j+h]   dx[j+h]  = dy[j+h]·c[j+h] − dy[j]·s[j]
// Every product is rounded before the sum: the same float operations, in value, as
// x·cos + (x·R)·sin with R the signed permutation (and its gradient), which the transformer
// computes on other backends. Not multiversioned, so the compiler has no FMA to contract them into.

struct RopeShape {
  int64_t B, H, T, hd, R;  // x [B, H, T, hd]; cos, sin [R, 1, T, hd] with R = 1 or B
};

void RopeRows(int64_t from, int64_t to, const RopeShape& z, const float* x, const float* c, const float* s, float* out, bool backward) {
  const int64_t h = z.hd / 2, perB = z.H * z.T;
  for (int64_t q = from; q < to; q++) {
    const int64_t b = q / perB, t = q % z.T;
    const int64_t table = ((z.R == 1 ? 0 : b) * z.T + t) * z.hd;
    const float* xr = x + q * z.hd;
    const float* cr = c + table;
    const float* sr = s + table;
    float* o = out + q * z.hd;
    if (!backward) {
      for (int64_t j = 0; j < h; j++) {
        const float a = xr[j] * cr[j], r = xr[j + h] * sr[j];
        o[j] = a - r;
      }
      for (int64_t j = 0; j < h; j++) {
        const float a = xr[j + h] * cr[j + h], r = xr[j] * sr[j + h];
        o[j + h] = a + r;
      }
    } else {
      for (int64_t j = 0; j < h; j++) {
        const float a = xr[j] * cr[j], r = xr[j + h] * sr[j + h];
        o[j] = a + r;
      }
      for (int64_t j = 0; j < h; j++) {
        const float a = xr[j + h] * cr[j + h], r = xr[j] * sr[j];
        o[j + h] = a - r;
      }
    }
  }
}

// rope(heap, shape: Float64Array [B, H, T, hd, R, backward], offsets: Float64Array [x, cos, sin, out])
napi_value JsRope(napi_env env, napi_callback_info info) {
  Args args(env, info, 3);
  if (!args.ok) return nullptr;
  size_t heapBytes = 0;
  uint8_t* heap = args.Heap(0, &heapBytes);
  if (!args.ok) return nullptr;
  const double* sv = ReadDoubles(env, args.argv[1], 6, "grpo_native: rope expects a Float64Array of 6 sizes");
  if (!sv) return nullptr;
  const double* ov = ReadDoubles(env, args.argv[2], 4, "grpo_native: rope expects a Float64Array of 4 offsets");
  if (!ov) return nullptr;
  const RopeShape z{static_cast<int64_t>(sv[0]), static_cast<int64_t>(sv[1]), static_cast<int64_t>(sv[2]), static_cast<int64_t>(sv[3]),
                    static_cast<int64_t>(sv[4])};
  const bool backward = sv[5] != 0;
  if (z.B < 0 || z.H < 1 || z.T < 0 || z.hd < 2 || z.hd % 2 != 0 || (z.R != 1 && z.R != z.B)) {
    napi_throw_range_error(env, nullptr, "grpo_native: bad rope sizes");
    return nullptr;
  }
  const int64_t rows = z.B * z.H * z.T;
  if (rows == 0) return nullptr;
  int64_t off[4];
  for (int i = 0; i < 4; i++) off[i] = static_cast<int64_t>(ov[i]);
  const int64_t tableBytes = 4 * z.R * z.T * z.hd, xBytes = 4 * rows * z.hd;
  if (!InBounds(env, heapBytes, off[0], xBytes) || !InBounds(env, heapBytes, off[1], tableBytes) || !InBounds(env, heapBytes, off[2], tableBytes) ||
      !InBounds(env, heapBytes, off[3], xBytes))
    return nullptr;
  const auto f = [&](int i) { return reinterpret_cast<float*>(heap + off[i]); };
  const double work = static_cast<double>(rows) * z.hd;
  if (pool.size() == 1 || work < parallel_min_flops || rows == 1) {
    RopeRows(0, rows, z, f(0), f(1), f(2), f(3), backward);
    return nullptr;
  }
  const int tasks = static_cast<int>(std::min<int64_t>(rows, pool.size() * 4));
  pool.Run(tasks, [&](int t) { RopeRows(rows * t / tasks, rows * (t + 1) / tasks, z, f(0), f(1), f(2), f(3), backward); });
  return nullptr;
}

// ---------------------------------------------------------------------------------------------
// SwiGLU (the kernels `GrpoSwiGlu` and `GrpoSwiGluGrad`): out = (g·σ(g))·u and its gradient,
// with σ computed by this file's Sigmoid kernel over the whole tensor (so every σ(g) equals the
// Sigmoid kernel's, whose vector and scalar paths depend on the position mod 8) and every other
// operation rounded one at a time in the order tfjs's gradients take (Multiply, Sigmoid: dy·σ(1−σ),
// Sub), so the results equal the composed ops'. Not multiversioned: no FMA to contract into.

void SwiGluRange(int64_t from, int64_t to, const float* g, const float* u, float* out) {
  for (int64_t i = from; i < to; i++) {
    const float gate = g[i] * out[i];  // out holds σ(g)
    out[i] = gate * u[i];
  }
}

void SwiGluGradRange(int64_t from, int64_t to, const float* g, const float* u, const float* dy, float* dg, float* du) {
  for (int64_t i = from; i < to; i++) {
    const float s = dg[i];  // dg holds σ(g)
    const float gate = g[i] * s;
    const float dgate = dy[i] * u[i];
    du[i] = dy[i] * gate;
    const float direct = dgate * s;
    const float ds = dgate * g[i];
    const float oneMinus = 1.0f - s;
    const float slope = s * oneMinus;
    const float through = ds * slope;
    dg[i] = direct + through;
  }
}

template <typename F>
void ForRange(int64_t n, F f) {
  if (pool.size() == 1 || n < parallel_min_flops) {
    f(0, n);
    return;
  }
  const int tasks = pool.size() * 2;
  pool.Run(tasks, [&](int t) { f(n * t / tasks, n * (t + 1) / tasks); });
}

// swiGlu(heap, n, offsets: Float64Array [g, u, out]) or, with dy, swiGluGrad(heap, n, [g, u, dy, dg, du])
napi_value JsSwiGlu(napi_env env, napi_callback_info info) {
  Args args(env, info, 3);
  if (!args.ok) return nullptr;
  size_t heapBytes = 0;
  uint8_t* heap = args.Heap(0, &heapBytes);
  const int64_t n = args.Int(1);
  if (!args.ok) return nullptr;
  size_t length = 0;
  const double* ov = ReadDoubles(env, args.argv[2], 3, "grpo_native: swiGlu expects a Float64Array of 3 or 5 offsets", &length, 5);
  if (!ov) return nullptr;
  if (n <= 0) return nullptr;
  float* p[5];
  for (size_t i = 0; i < length; i++) {
    const int64_t off = static_cast<int64_t>(ov[i]);
    if (!InBounds(env, heapBytes, off, 4 * n)) return nullptr;
    p[i] = reinterpret_cast<float*>(heap + off);
  }
  if (length == 3) {
    Unary<kSigmoid>(p[0], p[2], n);
    ForRange(n, [&](int64_t from, int64_t to) { SwiGluRange(from, to, p[0], p[1], p[2]); });
  } else {
    Unary<kSigmoid>(p[0], p[3], n);
    ForRange(n, [&](int64_t from, int64_t to) { SwiGluGradRange(from, to, p[0], p[1], p[2], p[3], p[4]); });
  }
  return nullptr;
}

// ---------------------------------------------------------------------------------------------
// Configuration.

napi_value JsSetThreads(napi_env env, napi_callback_info info) {
  Args args(env, info, 1);
  if (!args.ok) return nullptr;
  const int64_t n = args.Int(0);
  if (!args.ok) return nullptr;
  if (n < 1 || n > 256) {
    napi_throw_range_error(env, nullptr, "grpo_native: threads must be between 1 and 256");
    return nullptr;
  }
  pool.Resize(static_cast<int>(n));
  return nullptr;
}

napi_value JsSetParallelThreshold(napi_env env, napi_callback_info info) {
  Args args(env, info, 1);
  if (!args.ok) return nullptr;
  const double v = args.Num(0);
  if (!args.ok) return nullptr;
  parallel_min_flops = v;
  return nullptr;
}

napi_value JsInfo(napi_env env, napi_callback_info) {
  napi_value out, v;
  CHECK(napi_create_object(env, &out));
  CHECK(napi_create_int32(env, pool.size(), &v));
  CHECK(napi_set_named_property(env, out, "threads", v));
  const char* config = openblas_get_config();
  CHECK(napi_create_string_utf8(env, config ? config : "", NAPI_AUTO_LENGTH, &v));
  CHECK(napi_set_named_property(env, out, "blas", v));
  const char* core = openblas_get_corename();
  CHECK(napi_create_string_utf8(env, core ? core : "", NAPI_AUTO_LENGTH, &v));
  CHECK(napi_set_named_property(env, out, "core", v));
  CHECK(napi_create_double(env, parallel_min_flops, &v));
  CHECK(napi_set_named_property(env, out, "parallelThreshold", v));
  return out;
}

napi_value Init(napi_env env, napi_value exports) {
  // Our pool does the threading; every OpenBLAS call is single-threaded.
  openblas_set_num_threads(1);
  const unsigned hw = std::thread::hardware_concurrency();
  pool.Resize(hw == 0 ? 1 : static_cast<int>(std::min(hw, 64u)));
  napi_property_descriptor props[] = {
      {"gemm", nullptr, JsGemm, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"binary", nullptr, JsBinary, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"unary", nullptr, JsUnary, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"softmax", nullptr, JsSoftmax, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"transpose", nullptr, JsTranspose, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"decodeAttention", nullptr, JsDecodeAttention, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"rope", nullptr, JsRope, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"swiGlu", nullptr, JsSwiGlu, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"setThreads", nullptr, JsSetThreads, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"setParallelThreshold", nullptr, JsSetParallelThreshold, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"info", nullptr, JsInfo, nullptr, nullptr, nullptr, napi_default, nullptr},
  };
  CHECK(napi_define_properties(env, exports, sizeof(props) / sizeof(props[0]), props));
  return exports;
}

}  // namespace

NAPI_MODULE(NODE_GYP_MODULE_NAME, Init)
