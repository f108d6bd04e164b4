// The fast LSTM's step loops in C++ (torch.ops.rnnlab.lstm_forward, lstm_backward_chunk; with
// recurrent batch norm, lstm_bn_forward, lstm_bn_backward_chunk).
//
// They compute what the Python loops of rnnlab/layers/fast_lstm.py compute (`_forward_steps`,
// `_backward_chunk`: the docstrings there give the contract), with each step's elementwise
// work fused into one pass over the batch: a step is its matmul plus one or two passes,
// where the Python loop makes ~28 tensor calls at ~5-10 us each. At small hidden sizes those
// calls, not arithmetic, set the speed (docs/layers.md). Layer norm's row statistics and
// backward are part of those passes; matmuls stay ATen's (MKL). The batch runs in slices on
// torch's threads, each slice through the whole loop (for_parts).
//
// Gates in torch's order, i, f, g, o, each reached by its offset in the row (0, H, 2H, 3H).
// Registered as torch ops so that no Python headers are needed: the library is loaded with
// torch.ops.load_library.

#include <ATen/ATen.h>
#include <ATen/Dispatch.h>
#include <ATen/MemoryOverlap.h>
#include <ATen/Parallel.h>
#include <ATen/ThreadLocalState.h>
#include <ATen/core/dispatch/Dispatcher.h>
#include <torch/library.h>

#ifdef _OPENMP
#include <omp.h>
#endif
#if defined(__linux__)
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <exception>
#include <limits>
#include <optional>
#include <thread>
#include <utility>
#include <tuple>
#include <vector>

namespace {

using at::Tensor;
using OptTensor = std::optional<Tensor>;

// ---------------------------------------------------------------------------------------
// Elementwise math. float: exp by range reduction and Cephes' degree-6 polynomial (relative
// error ~1 ulp), written branch-free so that the compiler vectorizes the row loops; double
// (gradcheck): the C library.

inline float exp_f(float x) {
  x = std::min(std::max(x, -87.0f), 88.0f);
  const float magic = 12582912.0f;  // 1.5 * 2^23: adding and subtracting it rounds to integer
  float k = (x * 1.44269504088896341f + magic) - magic;
  float r = x - k * 0.693359375f;
  r = r - k * -2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  float y = p * r * r + r + 1.0f;
  int32_t bits = (static_cast<int32_t>(k) + 127) << 23;  // 2^k
  float scale;
  std::memcpy(&scale, &bits, sizeof scale);
  return y * scale;
}

inline float sigmoid_(float x) { return 1.0f / (1.0f + exp_f(-x)); }
inline float tanh_(float x) { return 1.0f - 2.0f / (exp_f(2.0f * x) + 1.0f); }
inline double sigmoid_(double x) { return 1.0 / (1.0 + std::exp(-x)); }
inline double tanh_(double x) { return std::tanh(x); }

// torch.lerp's formula, so that a weight of exactly 1 (zoneout keeping a unit) or 0 gives
// exactly the old or the new value.
template <typename T>
inline T lerp_(T a, T b, T w) {
  return w < T(0.5) ? a + w * (b - a) : b - (b - a) * (T(1) - w);
}

// ---------------------------------------------------------------------------------------
// Row kernels: one batch row b, columns j < H. Options are template flags, so that every
// loop is branch-free and vectorizes (an absent option's pointer is null and never read).
// The row's arrays never overlap; IVDEP says so, since a dozen pointers are more than the
// compiler will check for overlap at run time.

#if defined(__clang__)
#define IVDEP _Pragma("clang loop vectorize(assume_safety)")
#elif defined(__GNUC__)
#define IVDEP _Pragma("GCC ivdep")
#else
#define IVDEP
#endif

// On x86-64 with GCC, each row kernel is built for AVX-512, AVX2 + FMA and the baseline, and
// the loader picks the best the CPU has (4x the baseline's speed for the exp of the gates).
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && __GNUC__ >= 12
#define ROW_KERNEL __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default"), noinline))
#else
#define ROW_KERNEL inline
#endif

// Mean and 1/sqrt(variance + eps) of x[0 .. n) (biased variance, two passes, as ATen's layer
// norm): eight partial sums, so that the compiler vectorizes the reductions.
template <typename T>
inline void row_moments(const T* __restrict x, int64_t n, double eps, T* mean, T* rstd) {
  constexpr int L = 8;
  T acc[L] = {};
  int64_t j = 0;
  for (; j + L <= n; j += L)
    for (int l = 0; l < L; ++l) acc[l] += x[j + l];
  T sum = 0;
  for (int l = 0; l < L; ++l) sum += acc[l];
  for (; j < n; ++j) sum += x[j];
  const T m = sum / T(n);
  T sq[L] = {};
  j = 0;
  for (; j + L <= n; j += L)
    for (int l = 0; l < L; ++l) sq[l] += (x[j + l] - m) * (x[j + l] - m);
  T var = 0;
  for (int l = 0; l < L; ++l) var += sq[l];
  for (; j < n; ++j) var += (x[j] - m) * (x[j] - m);
  *mean = m;
  *rstd = T(1) / std::sqrt(var / T(n) + T(eps));
}

// Layer norm's backward for one row of n: dx = rstd (gw - mean(gw) - x_hat mean(gw x_hat)) with
// gw = dy * w, x_hat = (x - mean) rstd; adds dy * x_hat into d_w and, with SHIFT, dy into d_b.
// The sums run in eight lanes so that the compiler vectorizes them.
template <typename T, bool SHIFT>
inline void ln_backward_row(const T* __restrict dy, const T* __restrict x, T m, T s,
                            const T* __restrict w, T* __restrict d_w, T* __restrict d_b,
                            T* __restrict dx, int64_t n) {
  constexpr int L = 8;
  T u[L] = {}, v[L] = {};
  int64_t j = 0;
  for (; j + L <= n; j += L) {
    for (int l = 0; l < L; ++l) {
      const T x_hat = (x[j + l] - m) * s, gw = dy[j + l] * w[j + l];
      d_w[j + l] += dy[j + l] * x_hat;
      if constexpr (SHIFT) d_b[j + l] += dy[j + l];
      u[l] += gw;
      v[l] += gw * x_hat;
    }
  }
  T sum_gw = 0, sum_gwx = 0;
  for (int l = 0; l < L; ++l) {
    sum_gw += u[l];
    sum_gwx += v[l];
  }
  for (; j < n; ++j) {
    const T x_hat = (x[j] - m) * s, gw = dy[j] * w[j];
    d_w[j] += dy[j] * x_hat;
    if constexpr (SHIFT) d_b[j] += dy[j];
    sum_gw += gw;
    sum_gwx += gw * x_hat;
  }
  const T mean_gw = sum_gw / T(n), mean_gwx = sum_gwx / T(n);
  IVDEP for (int64_t i = 0; i < n; ++i) dx[i] = s * (dy[i] * w[i] - mean_gw - (x[i] - m) * s * mean_gwx);
}

template <typename T>
struct GatesStep {   // activations and cell; with grad, the backward's gate factors
  T* a;              // [B, 4H] pre-activations in; the factors q_i, q_f, q_g and o out
  const T* r;        // layer norm: recurrent term [B, 4H], added normalized, times gain
  const T* gain;     // [4H]
  T* mean;           // layer norm: [B] statistics of each row of r, written; batch norm: [4H], read
  T* rstd;
  double eps;
  const T* valid;    // batch norm: [B] 1 for a real row, 0 for padding (read as zeros), or null
  const T* zeros;    // batch norm: [4H] zeros
  const T* c_prev;   // [B, H], as every [B, H] below
  T* c;              // new cell
  T* fs;             // with grad: forget gate
};

template <typename T, bool GRAD, bool LN, bool BN = false>
ROW_KERNEL void gates_row(const GatesStep<T>& k, int64_t b, int64_t H) {
  T* __restrict a = k.a + b * 4 * H;
  const T* __restrict cp = k.c_prev + b * H;
  T* __restrict c = k.c + b * H;
  T* __restrict fs = GRAD ? k.fs + b * H : nullptr;
  if constexpr (LN) {
    const T* __restrict r = k.r + b * 4 * H;
    const T* __restrict gain = k.gain;
    row_moments(r, 4 * H, k.eps, k.mean + b, k.rstd + b);
    const T m = k.mean[b], s = k.rstd[b];
    IVDEP for (int64_t j = 0; j < 4 * H; ++j) a[j] += (r[j] - m) * s * gain[j];
  }
  if constexpr (BN) {  // padding is selected away, never multiplied by 0: it may hold anything
    const T* __restrict r = (k.valid == nullptr || k.valid[b] != T(0)) ? k.r + b * 4 * H : k.zeros;
    const T* __restrict gain = k.gain;
    const T* __restrict m = k.mean;
    const T* __restrict s = k.rstd;
    IVDEP for (int64_t j = 0; j < 4 * H; ++j) a[j] += (r[j] - m[j]) * s[j] * gain[j];
  }
  IVDEP for (int64_t j = 0; j < H; ++j) {
    const T i = sigmoid_(a[j]), f = sigmoid_(a[H + j]), g = tanh_(a[2 * H + j]),
            o = sigmoid_(a[3 * H + j]);
    const T ig = i * g, fc = f * cp[j];
    c[j] = fc + ig;
    a[3 * H + j] = o;
    if constexpr (GRAD) {
      fs[j] = f;
      a[j] = ig - i * ig;          // i(1 - i) g
      a[H + j] = fc - f * fc;      // f(1 - f) c_prev
      a[2 * H + j] = i - ig * g;   // i(1 - g^2)
    }
  }
}

template <typename T>
struct OutputStep {  // hidden state, zoneout, the next step's fed state
  T* a;              // [B, 4H]: o in (at 3H); with grad q_o = o(1 - o) tanh out
  const T* c;        // cell (normalized here with layer norm)
  const T* ln_w;     // layer norm: gain and shift of the cell's norm, [H]
  const T* ln_b;
  T* mean;           // layer norm: [B] statistics of each row of c, written; batch norm: [H], read
  T* rstd;
  double eps;
  const T* valid;    // batch norm: as in GatesStep
  const T* zeros;
  const T* c_prev;
  const T* h_prev;
  const T* keep_h;   // zoneout / length weights of the old state
  const T* keep_c;
  const T* mask;     // recurrent-dropout mask
  T* h;              // out[t]
  T* c_next;         // with keep_c: the state carried on (else the cell itself is)
  T* h_fed;          // with mask: h * mask for the next step
  T* rs;             // with grad: o(1 - tanh^2)
};

template <typename T, bool GRAD, bool KH, bool KC, bool MASK, bool LN, bool BN = false>
ROW_KERNEL void output_row(const OutputStep<T>& k, int64_t b, int64_t H) {
  const int64_t r = b * H;
  T* __restrict a = k.a + b * 4 * H + 3 * H;  // the o gate
  const T* __restrict c = k.c + r;
  const T* __restrict w = LN || BN ? k.ln_w : nullptr;
  const T* __restrict sh = LN || BN ? k.ln_b : nullptr;
  const T* __restrict cv = BN && k.valid != nullptr && k.valid[b] == T(0) ? k.zeros : c;  // (padding: zeros)
  const T* __restrict bm = BN ? k.mean : nullptr;
  const T* __restrict bs = BN ? k.rstd : nullptr;
  T m = 0, s = 1;
  if constexpr (LN) {
    row_moments(c, H, k.eps, k.mean + b, k.rstd + b);
    m = k.mean[b];
    s = k.rstd[b];
  }
  const T* __restrict cp = k.c_prev + r;
  const T* __restrict hp = k.h_prev + r;
  const T* __restrict kh = KH ? k.keep_h + r : nullptr;
  const T* __restrict kc = KC ? k.keep_c + r : nullptr;
  const T* __restrict mask = MASK ? k.mask + r : nullptr;
  T* __restrict h = k.h + r;
  T* __restrict c_next = KC ? k.c_next + r : nullptr;
  T* __restrict h_fed = MASK ? k.h_fed + r : nullptr;
  T* __restrict rs = GRAD ? k.rs + r : nullptr;
  IVDEP for (int64_t j = 0; j < H; ++j) {
    T c_hat = c[j];
    if constexpr (LN) c_hat = (c[j] - m) * s * w[j] + sh[j];
    if constexpr (BN) c_hat = (cv[j] - bm[j]) * bs[j] * w[j] + sh[j];
    const T tc = tanh_(c_hat), o = a[j];
    const T hv = o * tc;
    if constexpr (GRAD) {
      rs[j] = o - hv * tc;
      a[j] = hv - o * hv;
    }
    T h_out = hv;
    if constexpr (KH) h_out = lerp_(hv, hp[j], kh[j]);
    h[j] = h_out;
    if constexpr (KC) c_next[j] = lerp_(c[j], cp[j], kc[j]);
    if constexpr (MASK) h_fed[j] = h_out * mask[j];
  }
}

template <typename T>
struct BackwardStep {  // one step back through the cell and the state update
  const T* dh;         // [B, H]: gradient of the step's carried hidden state
  const T* dc;
  const T* keep_h;
  const T* keep_c;
  const T* rs;
  const T* q;           // [B, 4H] gate factors
  const T* fs;
  const T* d_out_prev;  // d out[t-1], absent at t = 0
  // layer norm: the cell and recurrent term before their norms, their [B] statistics, gains,
  // and the gain gradients, accumulated over rows
  const T* c;
  const T* mean_c;
  const T* rstd_c;
  const T* ln_w_c;
  const T* r;
  const T* mean_r;
  const T* rstd_r;
  const T* ln_w_hh;
  T* d_ln_wc;
  T* d_ln_bc;
  T* d_ln_hh;
  T* d_r;               // [B, 4H]: gradient of the recurrent term before its norm
  T* d_c;               // [2, B, H] scratch: gradient of the cell after, then before, its norm
  int64_t B;
  T* d_gates;           // [B, 4H]
  T* dc_prev;
  T* extra;             // the parts of dh_{t-1} that do not go through W_hh
};

template <typename T, bool KH, bool KC, bool PREV, bool LN, bool BN = false>
ROW_KERNEL void backward_row(const BackwardStep<T>& k, int64_t b, int64_t H) {
  const int64_t r = b * H;
  const T* __restrict dh_ = k.dh + r;
  const T* __restrict dc_ = k.dc + r;
  const T* __restrict kh_ = KH ? k.keep_h + r : nullptr;
  const T* __restrict kc_ = KC ? k.keep_c + r : nullptr;
  const T* __restrict rs = k.rs + r;
  const T* __restrict q = k.q + b * 4 * H;
  const T* __restrict fs = k.fs + r;
  const T* __restrict prev = PREV ? k.d_out_prev + r : nullptr;
  T* __restrict d = k.d_gates + b * 4 * H;
  T* __restrict dc_prev = k.dc_prev + r;
  T* __restrict extra = k.extra + r;
  // With layer norm, first back through the cell's norm: dy = dh through the new state, times
  // o(1 - tanh^2).
  // With batch norm, the gradient through the cell's norm is already in d_c's second half.
  T* __restrict dcl = LN ? k.d_c + r : BN ? k.d_c + k.B * H + r : nullptr;
  if constexpr (LN) {
    IVDEP for (int64_t j = 0; j < H; ++j) {
      T kh = T(0);
      if constexpr (KH) kh = kh_[j];
      dcl[j] = (dh_[j] - dh_[j] * kh) * rs[j];
    }
    ln_backward_row<T, true>(dcl, k.c + r, k.mean_c[b], k.rstd_c[b], k.ln_w_c, k.d_ln_wc, k.d_ln_bc,
                             dcl + k.B * H, H);
    dcl += k.B * H;
  }
  IVDEP for (int64_t j = 0; j < H; ++j) {
    const T dh = dh_[j], dc = dc_[j];
    T kh = T(0), kc = T(0);
    if constexpr (KH) kh = kh_[j];
    if constexpr (KC) kc = kc_[j];
    const T dhn = dh - dh * kh;  // through the new state
    T dcn = dc - dc * kc;
    if constexpr (LN || BN) dcn = dcl[j] + dcn;
    else dcn = dcn + dhn * rs[j];
    d[j] = q[j] * dcn;
    d[H + j] = q[H + j] * dcn;
    d[2 * H + j] = q[2 * H + j] * dcn;
    d[3 * H + j] = q[3 * H + j] * dhn;
    dc_prev[j] = dcn * fs[j] + dc * kc;
    T e = dh * kh;
    if constexpr (PREV) e = prev[j] + e;
    extra[j] = e;
  }
  // then through the recurrent term's norm (dy = the gate gradients just written)
  if constexpr (LN) {
    ln_backward_row<T, false>(d, k.r + b * 4 * H, k.mean_r[b], k.rstd_r[b], k.ln_w_hh, k.d_ln_hh,
                              nullptr, k.d_r + b * 4 * H, 4 * H);
  }
}

// Calls f(std::bool_constant<b1>{}, std::bool_constant<b2>{}, ...): runtime flags to
// template flags.
template <typename F>
void with_flags(const F& f) { f(); }
template <typename F, typename... Bs>
void with_flags(const F& f, bool first, Bs... rest) {
  if (first) with_flags([&](auto... fl) { f(std::true_type{}, fl...); }, rest...);
  else with_flags([&](auto... fl) { f(std::false_type{}, fl...); }, rest...);
}

// Runs part(p, b0, b1) for `parts` slices [b0, b1) of the batch rows, each on a thread of
// torch's pool (the calling thread among them). An LSTM's batch rows never meet (layer norm too
// is per row), so each slice runs the whole time loop, matmuls included, on its own: one fork
// and join per call. Splitting each step's work instead costs a fork and join per step, as
// much as the step's elementwise work at small sizes, and MKL gains little from a second
// thread on a [64, 128] x [128, 512] product. Inside, MKL and ATen run single-threaded (they
// see the parallel region); the thread-local state (grad mode, dispatch keys) is the caller's.
template <typename F>
void for_parts(int64_t B, int64_t parts, const F& part) {
  if (parts <= 1) {
    part(int64_t{0}, int64_t{0}, B);
    return;
  }
  const at::ThreadLocalState state;
  at::parallel_for(0, parts, 1, [&](int64_t p0, int64_t p1) {
    at::ThreadLocalStateGuard guard(state);
    for (int64_t p = p0; p < p1; ++p) part(p, B * p / parts, B * (p + 1) / parts);
  });
}

void check_parts(const char* where, int64_t parts, int64_t B) {
  TORCH_CHECK(parts >= 1 && parts <= B, where, ": parts expected from 1 to the batch size ", B, ", got ", parts);
}

template <typename T>
T* ptr(const Tensor& t) { return t.data_ptr<T>(); }
template <typename T>
T* ptr(const OptTensor& t) { return t.has_value() ? t->data_ptr<T>() : nullptr; }

// ---------------------------------------------------------------------------------------
// x @ w for every step's [B, K] input; with `packed` (MKL's packed GEMM layout of the
// weight, made once per call by the Python side), mkl::_mkl_linear.
struct StepMatmul {
  const Tensor& w;
  const OptTensor& packed;
  const OptTensor& lin;
  int64_t batch;

  Tensor operator()(const Tensor& x) const {
    if (!packed.has_value()) return at::mm(x, w);
    static auto op = c10::Dispatcher::singleton()
                         .findSchemaOrThrow("mkl::_mkl_linear", "")
                         .typed<Tensor(const Tensor&, const Tensor&, const Tensor&,
                                       const std::optional<Tensor>&, int64_t)>();
    return op.call(x, *packed, *lin, std::nullopt, batch);
  }
  void into(Tensor out, const Tensor& x) const {  // out = x @ w
    if (packed.has_value()) out.copy_((*this)(x));
    else at::mm_out(out, x, w);
  }
  void plus_into(Tensor out, const Tensor& base, const Tensor& x) const {  // out = base + x @ w
    if (packed.has_value()) out.copy_((*this)(x)).add_(base);
    else at::addmm_out(out, base, x, w);
  }
  void add_into(Tensor acc, const Tensor& x) const {
    if (packed.has_value()) acc.add_((*this)(x));
    else acc.addmm_(x, w);
  }
};

OptTensor contiguous(const OptTensor& t) {
  return t.has_value() ? OptTensor(t->contiguous()) : std::nullopt;
}

// dh_{t-1} of rows [b0, b1) = (d @ W_hh) * feed_mask + extra: the state gradient one step back,
// for one slice of the batch (d: the slice's rows of the gates' gradient).
void state_grad_rows(const StepMatmul& rec, const Tensor& dh_prev_all, const Tensor& d, const Tensor& extra,
                     const OptTensor& feed_mask, int64_t b0, int64_t b1) {
  const Tensor dh_prev = dh_prev_all.narrow(0, b0, b1 - b0);
  const Tensor extra_rows = extra.narrow(0, b0, b1 - b0);
  if (feed_mask.has_value()) {
    rec.into(dh_prev, d);
    dh_prev.mul_(feed_mask->narrow(0, b0, b1 - b0)).add_(extra_rows);
  } else {
    rec.plus_into(dh_prev, extra_rows, d);
  }
}


// The row kernels index raw memory, so every shape is checked, not assumed.
void check_shape(const char* where, const char* name, const OptTensor& t, at::IntArrayRef expected) {
  TORCH_CHECK(!t.has_value() || t->sizes() == expected, where, ": ", name, " expected shape ",
              expected, ", got ", t->sizes());
}

void check_dtypes(const char* where, const Tensor& ref, std::initializer_list<const OptTensor*> ts) {
  for (const OptTensor* t : ts) {
    TORCH_CHECK(!t->has_value() || (*t)->scalar_type() == ref.scalar_type(), where,
                ": expected every tensor in ", ref.scalar_type(), ", got ", (*t)->scalar_type());
  }
}

template <typename T>
std::tuple<Tensor, Tensor, std::vector<Tensor>> forward_impl(
    at::TensorList acts, const Tensor& w, const OptTensor& packed, const OptTensor& lin,
    const Tensor& h0_in, const Tensor& c0_in, const OptTensor& feed_mask_in,
    const OptTensor& keep_h_in, const OptTensor& keep_c_in, const OptTensor& ln_w_hh_in,
    const OptTensor& ln_w_c_in, const OptTensor& ln_b_c_in, double eps, double eps_c, bool need_grad,
    int64_t parts) {
  int64_t T_ = 0;
  for (const auto& a : acts) {
    TORCH_CHECK(a.is_contiguous(), "lstm_forward: input chunks must be contiguous");
    T_ += a.size(0);
  }
  TORCH_CHECK(T_ > 0, "lstm_forward: no steps");
  const int64_t B = acts[0].size(1), G = acts[0].size(2), H = G / 4;
  for (const auto& a : acts) check_shape("lstm_forward", "input chunk", a, {a.size(0), B, G});
  check_shape("lstm_forward", "h0", h0_in, {B, H});
  check_shape("lstm_forward", "c0", c0_in, {B, H});
  check_shape("lstm_forward", "w", w, {H, G});
  check_shape("lstm_forward", "feed_mask", feed_mask_in, {B, H});
  check_shape("lstm_forward", "keep_h", keep_h_in, {T_, B, H});
  check_shape("lstm_forward", "keep_c", keep_c_in, {T_, B, H});
  check_shape("lstm_forward", "ln_w_hh", ln_w_hh_in, {G});
  TORCH_CHECK(ln_w_c_in.has_value() == ln_w_hh_in.has_value() && ln_b_c_in.has_value() == ln_w_hh_in.has_value(),
              "lstm_forward: layer norm needs ln_w_hh, ln_w_c and ln_b_c together");
  check_shape("lstm_forward", "ln_w_c", ln_w_c_in, {H});
  check_shape("lstm_forward", "ln_b_c", ln_b_c_in, {H});
  check_parts("lstm_forward", parts, B);
  const StepMatmul rec{w, packed, lin, B / parts};
  const Tensor h0 = h0_in.contiguous(), c0 = c0_in.contiguous();
  const OptTensor feed_mask = contiguous(feed_mask_in), keep_h = contiguous(keep_h_in),
                  keep_c = contiguous(keep_c_in), ln_w_hh = contiguous(ln_w_hh_in),
                  ln_w_c = contiguous(ln_w_c_in), ln_b_c = contiguous(ln_b_c_in);
  const bool ln = ln_w_hh.has_value();
  std::vector<Tensor> a_steps;
  for (const auto& chunk : acts)
    for (int64_t j = 0; j < chunk.size(0); ++j) a_steps.push_back(chunk.select(0, j));
  Tensor out = acts[0].new_empty({T_, B, H});
  std::vector<Tensor> saved;
  Tensor fs, rs;
  if (need_grad) {
    fs = out.new_empty({T_, B, H});
    rs = out.new_empty({T_, B, H});
    saved = {fs, rs};
  }
  // Everything the steps write is made before the loop, so that the slices run it without
  // allocating. With layer norm's backward to come, every step's cell, recurrent term and
  // statistics are kept (slot t); otherwise two slots serve in turn (slot t % 2).
  const int64_t slots = ln && need_grad ? T_ : 2;
  std::vector<Tensor> cells, terms;
  for (int64_t s = 0; s < slots; ++s) {
    cells.push_back(out.new_empty({B, H}));
    if (ln) terms.push_back(out.new_empty({B, G}));
  }
  const Tensor stats = ln ? out.new_empty({4, slots, B, 1}) : Tensor();  // mean, rstd of r; of c
  const Tensor carried = keep_c.has_value() ? out.new_empty({2, B, H}) : Tensor();  // state after zoneout
  const Tensor fed = feed_mask.has_value() ? out.new_empty({2, B, H}) : Tensor();  // h * mask
  const Tensor fed0 = feed_mask.has_value() ? h0 * *feed_mask : h0;
  const int64_t BH = B * H;
  T* const out_p = ptr<T>(out);
  T* const fs_p = need_grad ? ptr<T>(fs) : nullptr;
  T* const rs_p = need_grad ? ptr<T>(rs) : nullptr;
  T* const stats_p = ln ? ptr<T>(stats) : nullptr;
  T* const carried_p = keep_c.has_value() ? ptr<T>(carried) : nullptr;
  T* const fed_p = feed_mask.has_value() ? ptr<T>(fed) : nullptr;
  const T* const kh_p = ptr<T>(keep_h);
  const T* const kc_p = ptr<T>(keep_c);
  auto stat = [&](int64_t kind, int64_t s) { return ln ? stats_p + (kind * slots + s) * B : nullptr; };
  for_parts(B, parts, [&](int64_t, int64_t b0, int64_t b1) {
    for (int64_t t = 0; t < T_; ++t) {
      const int64_t s = t % slots, s_prev = (t + slots - 1) % slots;
      // the recurrent term of this slice's rows: into the input term, or apart for its norm
      const Tensor h_in = (t == 0 ? fed0 : feed_mask.has_value() ? fed.select(0, (t - 1) % 2)
                                                                 : out.select(0, t - 1)).narrow(0, b0, b1 - b0);
      if (ln) rec.into(terms[s].narrow(0, b0, b1 - b0), h_in);
      else rec.add_into(a_steps[t].narrow(0, b0, b1 - b0), h_in);
      const T* c_prev = t == 0 ? ptr<T>(c0)
                        : keep_c.has_value() ? carried_p + ((t - 1) % 2) * BH : ptr<T>(cells[s_prev]);
      const T* h_prev = t == 0 ? ptr<T>(h0) : out_p + (t - 1) * BH;
      T* const a = ptr<T>(a_steps[t]);
      const GatesStep<T> gk{a, ln ? ptr<T>(terms[s]) : nullptr, ptr<T>(ln_w_hh), stat(0, s), stat(1, s), eps,
                            nullptr, nullptr, c_prev, ptr<T>(cells[s]), need_grad ? fs_p + t * BH : nullptr};
      const OutputStep<T> ok{a, ptr<T>(cells[s]), ptr<T>(ln_w_c), ptr<T>(ln_b_c), stat(2, s), stat(3, s), eps_c,
                             nullptr, nullptr, c_prev, h_prev, kh_p ? kh_p + t * BH : nullptr, kc_p ? kc_p + t * BH : nullptr,
                             ptr<T>(feed_mask), out_p + t * BH, carried_p ? carried_p + (t % 2) * BH : nullptr,
                             fed_p ? fed_p + (t % 2) * BH : nullptr, need_grad ? rs_p + t * BH : nullptr};
      with_flags([&](auto grad, auto keep_h_, auto keep_c_, auto mask, auto ln_) {
        for (int64_t b = b0; b < b1; ++b) {
          gates_row<T, decltype(grad)::value, decltype(ln_)::value>(gk, b, H);
          output_row<T, decltype(grad)::value, decltype(keep_h_)::value, decltype(keep_c_)::value,
                     decltype(mask)::value, decltype(ln_)::value>(ok, b, H);
        }
      }, need_grad, kh_p != nullptr, kc_p != nullptr, feed_mask.has_value(), ln);
    }
  });
  if (need_grad && ln) {  // recurrent terms, cells, then (mean, rstd) of each step's r, of its c
    saved.insert(saved.end(), terms.begin(), terms.end());
    saved.insert(saved.end(), cells.begin(), cells.end());
    for (int64_t kind : {0, 2})
      for (int64_t t = 0; t < T_; ++t) saved.insert(saved.end(), {stats[kind][t], stats[kind + 1][t]});
  }
  const Tensor c_last = keep_c.has_value() ? carried[(T_ - 1) % 2] : cells[(T_ - 1) % slots];
  return {out, c_last, saved};
}

// The registered ops: checks, then the float32 or float64 loop. What they compute, argument by
// argument, is in the docstrings of `_forward_steps` and `_backward_chunk` (fast_lstm.py).
std::tuple<Tensor, Tensor, std::vector<Tensor>> lstm_forward(
    at::TensorList acts, const Tensor& w, const OptTensor& packed, const OptTensor& lin,
    const Tensor& h0, const Tensor& c0, const OptTensor& feed_mask, const OptTensor& keep_h,
    const OptTensor& keep_c, const OptTensor& ln_w_hh, const OptTensor& ln_w_c,
    const OptTensor& ln_b_c, double eps, double eps_c, bool need_grad, int64_t parts) {
  TORCH_CHECK(!acts.empty(), "lstm_forward: no input chunks");
  const Tensor& ref = acts[0];
  TORCH_CHECK(ref.device().is_cpu(), "lstm_forward: the compiled loop runs on the CPU, got ", ref.device());
  const OptTensor h0o(h0), c0o(c0);
  check_dtypes("lstm_forward", ref, {&h0o, &c0o, &feed_mask, &keep_h, &keep_c, &ln_w_hh, &ln_w_c, &ln_b_c});
  return AT_DISPATCH_FLOATING_TYPES(ref.scalar_type(), "lstm_forward", [&] {
    return forward_impl<scalar_t>(acts, w, packed, lin, h0, c0, feed_mask, keep_h, keep_c, ln_w_hh,
                                  ln_w_c, ln_b_c, eps, eps_c, need_grad, parts);
  });
}

// The arguments every backward chunk shares (plain and batch-norm loops): the chunk's steps
// inside the forward's, and each tensor's shape.
void check_backward_chunk(const char* where, int64_t t0, int64_t n, int64_t B, int64_t G, int64_t H, int64_t T_,
                          const Tensor& buf, const Tensor& dh_in, const Tensor& dc_in, const Tensor& fs,
                          const Tensor& rs, const Tensor& d_out, const Tensor& w, const OptTensor& feed_mask_in,
                          const OptTensor& keep_h_in, const OptTensor& keep_c_in) {
  TORCH_CHECK(t0 >= 0 && t0 + n <= T_, where, ": steps ", t0, " to ", t0 + n, " outside 0 to ", T_);
  check_shape(where, "buf", buf, {buf.size(0), B, G});
  TORCH_CHECK(buf.size(0) >= n, where, ": buf holds ", buf.size(0), " steps, the chunk has ", n);
  for (const auto& [name, x] : {std::pair{"dh", &dh_in}, std::pair{"dc", &dc_in}}) check_shape(where, name, *x, {B, H});
  for (const auto& [name, x] : {std::pair{"fs", &fs}, std::pair{"rs", &rs}, std::pair{"d_out", &d_out}})
    check_shape(where, name, *x, {T_, B, H});
  check_shape(where, "w", w, {G, H});
  check_shape(where, "feed_mask", feed_mask_in, {B, H});
  check_shape(where, "keep_h", keep_h_in, {T_, B, H});
  check_shape(where, "keep_c", keep_c_in, {T_, B, H});
}

template <typename T>
std::tuple<Tensor, Tensor> backward_impl(
    int64_t t0, const Tensor& q, const Tensor& buf, const Tensor& dh_in, const Tensor& dc_in,
    const Tensor& fs, const Tensor& rs, const Tensor& d_out, const Tensor& w,
    const OptTensor& packed, const OptTensor& lin, const OptTensor& feed_mask_in,
    const OptTensor& keep_h_in, const OptTensor& keep_c_in, at::TensorList rr, at::TensorList cn,
    at::TensorList stats, const OptTensor& ln_w_hh, const OptTensor& ln_w_c,
    const OptTensor& d_ln_hh, const OptTensor& d_ln_wc,
    const OptTensor& d_ln_bc, const OptTensor& d_r, int64_t parts) {
  const int64_t n = q.size(0), B = q.size(1), G = q.size(2), H = G / 4, T_ = fs.size(0);
  const bool ln = ln_w_hh.has_value();
  const char* where = "lstm_backward_chunk";
  check_backward_chunk(where, t0, n, B, G, H, T_, buf, dh_in, dc_in, fs, rs, d_out, w, feed_mask_in, keep_h_in, keep_c_in);
  check_shape(where, "d_r", d_r, {buf.size(0), B, G});
  TORCH_CHECK(!ln || d_r.has_value(), where, ": layer norm needs the d_r buffer");
  TORCH_CHECK(!ln || (static_cast<int64_t>(rr.size()) == T_ && static_cast<int64_t>(cn.size()) == T_ &&
                      static_cast<int64_t>(stats.size()) == 4 * T_),
              "lstm_backward_chunk: layer-norm tensors do not match ", T_, " steps");
  if (ln) {
    for (const auto& [name, x, size] : {std::tuple{"ln_w_hh", &ln_w_hh, G}, std::tuple{"ln_w_c", &ln_w_c, H},
                                        std::tuple{"d_ln_hh", &d_ln_hh, G}, std::tuple{"d_ln_wc", &d_ln_wc, H},
                                        std::tuple{"d_ln_bc", &d_ln_bc, H}}) {
      TORCH_CHECK(x->has_value() && (*x)->is_contiguous(), where, ": layer norm needs a contiguous ", name);
      check_shape(where, name, *x, {size});
    }
    for (int64_t t = t0; t < t0 + n; ++t) {
      check_shape(where, "recurrent term", rr[t], {B, G});
      check_shape(where, "cell", cn[t], {B, H});
      for (int64_t i : {2 * t, 2 * t + 1, 2 * T_ + 2 * t, 2 * T_ + 2 * t + 1}) check_shape(where, "statistics", stats[i], {B, 1});
      TORCH_CHECK(rr[t].is_contiguous() && cn[t].is_contiguous(), where, ": layer-norm tensors must be contiguous");
    }
  }
  TORCH_CHECK(q.is_contiguous() && buf.is_contiguous() && fs.is_contiguous() && rs.is_contiguous() &&
                  (!d_r.has_value() || d_r->is_contiguous()),
              "lstm_backward_chunk: saved tensors must be contiguous");
  const Tensor d_out_c = d_out.contiguous();
  const OptTensor feed_mask = contiguous(feed_mask_in), keep_h = contiguous(keep_h_in),
                  keep_c = contiguous(keep_c_in);
  check_parts(where, parts, B);
  const StepMatmul rec{w, packed, lin, B / parts};
  const Tensor dh_last = dh_in.contiguous(), dc_last = dc_in.contiguous();
  // State gradients before step t go to slot (t - t0) % 2, read by step t - 1.
  const Tensor dhs = dh_last.new_empty({2, B, H}), dcs = dh_last.new_empty({2, B, H});
  const Tensor extra = dh_last.new_empty({B, H});  // the parts of dh_{t-1} not through W_hh
  const Tensor d_c_scratch = ln ? dh_last.new_empty({2, B, H}) : Tensor();
  // Each slice sums its rows' gain gradients (d_ln_hh, d_ln_wc, d_ln_bc) apart; added in after the join.
  const Tensor gains = ln ? dh_last.new_zeros({parts, G + 2 * H}) : Tensor();
  const int64_t BH = B * H, BG = B * G;
  T* const dhs_p = ptr<T>(dhs);
  T* const dcs_p = ptr<T>(dcs);
  const T* const kh_p = ptr<T>(keep_h);
  const T* const kc_p = ptr<T>(keep_c);
  const T* const d_out_p = ptr<T>(d_out_c);
  for_parts(B, parts, [&](int64_t p, int64_t b0, int64_t b1) {
    T* const d_ln_hh_p = ln ? ptr<T>(gains) + p * (G + 2 * H) : nullptr;
    T* const d_ln_wc_p = ln ? d_ln_hh_p + G : nullptr;
    T* const d_ln_bc_p = ln ? d_ln_hh_p + G + H : nullptr;
    for (int64_t t = t0 + n - 1; t >= t0; --t) {
      const int64_t j = t - t0, after = (j + 1) % 2;
      const bool last = t == t0 + n - 1;
      const BackwardStep<T> k{
          last ? ptr<T>(dh_last) : dhs_p + after * BH, last ? ptr<T>(dc_last) : dcs_p + after * BH,
          kh_p ? kh_p + t * BH : nullptr, kc_p ? kc_p + t * BH : nullptr, ptr<T>(rs) + t * BH,
          ptr<T>(q) + j * BG, ptr<T>(fs) + t * BH, t > 0 ? d_out_p + (t - 1) * BH : nullptr,
          ln ? ptr<T>(cn[t]) : nullptr, ln ? ptr<T>(stats[2 * T_ + 2 * t]) : nullptr,
          ln ? ptr<T>(stats[2 * T_ + 2 * t + 1]) : nullptr, ptr<T>(ln_w_c),
          ln ? ptr<T>(rr[t]) : nullptr, ln ? ptr<T>(stats[2 * t]) : nullptr,
          ln ? ptr<T>(stats[2 * t + 1]) : nullptr, ptr<T>(ln_w_hh),
          d_ln_wc_p, d_ln_bc_p, d_ln_hh_p, ln ? ptr<T>(*d_r) + j * BG : nullptr,
          ln ? ptr<T>(d_c_scratch) : nullptr, B, ptr<T>(buf) + j * BG, dcs_p + (j % 2) * BH, ptr<T>(extra)};
      with_flags([&](auto keep_h_, auto keep_c_, auto prev, auto ln_) {
        for (int64_t b = b0; b < b1; ++b) {
          backward_row<T, decltype(keep_h_)::value, decltype(keep_c_)::value, decltype(prev)::value,
                       decltype(ln_)::value>(k, b, H);
        }
      }, kh_p != nullptr, kc_p != nullptr, t > 0, ln);
      const Tensor d = (ln ? d_r->select(0, j) : buf.select(0, j)).narrow(0, b0, b1 - b0);
      state_grad_rows(rec, dhs.select(0, j % 2), d, extra, feed_mask, b0, b1);
    }
  });
  if (ln) {
    const Tensor total = gains.sum(0);
    d_ln_hh->add_(total.narrow(0, 0, G));
    d_ln_wc->add_(total.narrow(0, G, H));
    d_ln_bc->add_(total.narrow(0, G + H, H));
  }
  return {dhs[0], dcs[0]};
}

std::tuple<Tensor, Tensor> lstm_backward_chunk(
    int64_t t0, const Tensor& q, const Tensor& buf, const Tensor& dh, const Tensor& dc,
    const Tensor& fs, const Tensor& rs, const Tensor& d_out, const Tensor& w,
    const OptTensor& packed, const OptTensor& lin, const OptTensor& feed_mask,
    const OptTensor& keep_h, const OptTensor& keep_c, at::TensorList rr, at::TensorList cn,
    at::TensorList stats, const OptTensor& ln_w_hh, const OptTensor& ln_w_c,
    const OptTensor& ln_b_c, const OptTensor& d_ln_hh, const OptTensor& d_ln_wc,
    const OptTensor& d_ln_bc, const OptTensor& d_r, int64_t parts) {
  TORCH_CHECK(q.device().is_cpu(), "lstm_backward_chunk: the compiled loop runs on the CPU, got ", q.device());
  (void)ln_b_c;  // the cell norm's shift has no part in its backward (the op keeps the Python signature)
  const OptTensor others[] = {buf, dh, dc, fs, rs, d_out};
  for (const auto& o : others) check_dtypes("lstm_backward_chunk", q, {&o});
  check_dtypes("lstm_backward_chunk", q, {&feed_mask, &keep_h, &keep_c});
  return AT_DISPATCH_FLOATING_TYPES(q.scalar_type(), "lstm_backward_chunk", [&] {
    return backward_impl<scalar_t>(t0, q, buf, dh, dc, fs, rs, d_out, w, packed, lin, feed_mask,
                                   keep_h, keep_c, rr, cn, stats, ln_w_hh, ln_w_c, d_ln_hh,
                                   d_ln_wc, d_ln_bc, d_r, parts);
  });
}

// ---------------------------------------------------------------------------------------
// Recurrent batch norm (Cooijmans et al. 2017). Its recurrent term's and cell's statistics are
// per step over the batch's real rows, so each step needs a reduction over every row between its
// matmul and its gates and between its gates and its output, and, back, before each of its two
// norms' backwards. The loops run the batch in slices as the others do (one thread a slice, the
// whole time loop, its matmuls single-threaded), and the slices meet at each reduction: each sums
// its own rows, waits at a StepBarrier for the others, and combines every slice's sums itself.
// That is two barriers a step each way. The alternative, the batch as one part with each step's
// matmul on torch's threads, costs a fork and join of the OpenMP pool per matmul, which under
// OMP_WAIT_POLICY=PASSIVE (rnnlab's default, threads.py) is a futex wake-up each, and leaves
// the column sums and row passes on one core (measured at B=64, H=128, 2 threads: docs/layers.md).
// Padded rows (valid[b] == 0) are selected away, never multiplied by 0: what they hold reaches
// no statistic, no real row and no gradient. A step with fewer than 2 real rows has no batch
// statistics (those of one row are the row itself with variance 0, which would normalize it to
// 0): in training it is normalized with its running statistics, as in eval, leaves them as they
// are, and its gradient is eval's (rnnlab/layers/norm.py, step_statistics).

// The threads of one parallel region meet here once per reduction. A thread that arrives first
// spins (the slices are the same size, so the others come within microseconds when they run at
// all), then sleeps on a futex: on a machine whose other cores are busy the partner may be
// waiting for a time slice, and spinning would take the core it needs (threads.py).
class StepBarrier {
 public:
  // Spin this long before sleeping: much longer than the slices' usual skew (a few us), much
  // shorter than a time slice (ms), so that a descheduled partner costs one short spin.
  static constexpr auto kSpin = std::chrono::microseconds(50);

  void set_threads(int n) { threads_.store(n, std::memory_order_relaxed); }

  // False once a thread has failed: the others then leave their loops.
  bool wait() {
    const int n = threads_.load(std::memory_order_relaxed);
    if (n <= 1) return !failed_.load(std::memory_order_relaxed);
    // (the generation before the failure flag: a thread that fails stores the flag and then
    // moves the generation, so a waiter sees the one or the other and never waits for nobody)
    const uint32_t gen = generation_.load(std::memory_order_seq_cst);
    if (failed_.load(std::memory_order_seq_cst)) return false;
    if (arrived_.fetch_add(1, std::memory_order_acq_rel) + 1 == n) {
      arrived_.store(0, std::memory_order_relaxed);
      release();
      return !failed_.load(std::memory_order_acquire);
    }
    const auto start = std::chrono::steady_clock::now();
    for (int i = 0;; ++i) {
      if (generation_.load(std::memory_order_acquire) != gen) return !failed_.load(std::memory_order_acquire);
      cpu_relax();
      if ((i & 63) == 63 && std::chrono::steady_clock::now() - start > kSpin) break;
    }
    sleepers_.fetch_add(1, std::memory_order_seq_cst);
    while (generation_.load(std::memory_order_seq_cst) == gen) sleep_while(gen);
    sleepers_.fetch_sub(1, std::memory_order_relaxed);
    return !failed_.load(std::memory_order_acquire);
  }

  // A thread that cannot go on (an exception) lets every other one out.
  void fail() {
    failed_.store(true, std::memory_order_seq_cst);
    release();
  }

 private:
  void release() {
    generation_.fetch_add(1, std::memory_order_seq_cst);
    if (sleepers_.load(std::memory_order_seq_cst) > 0) wake_all();
  }
  static void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
  }
  void sleep_while(uint32_t gen) {
#if defined(__linux__)
    // the kernel sleeps only while the word still holds gen: no wake-up is lost
    syscall(SYS_futex, reinterpret_cast<uint32_t*>(&generation_), FUTEX_WAIT_PRIVATE, gen, nullptr, nullptr, 0);
#else
    (void)gen;
    std::this_thread::yield();
#endif
  }
  void wake_all() {
#if defined(__linux__)
    syscall(SYS_futex, reinterpret_cast<uint32_t*>(&generation_), FUTEX_WAKE_PRIVATE, INT32_MAX, nullptr, nullptr, 0);
#endif
  }

  std::atomic<int> threads_{1};
  std::atomic<int> arrived_{0};
  std::atomic<uint32_t> generation_{0};
  std::atomic<int> sleepers_{0};
  std::atomic<bool> failed_{false};
};
static_assert(sizeof(std::atomic<uint32_t>) == sizeof(uint32_t), "the futex word is the atomic's");

// Runs slice(p, P, b0, b1, barrier) on each of P threads of torch's OpenMP pool (P = the team
// the runtime gives for `parts`, 1 inside another parallel region), slice p over the batch
// rows [b0, b1); the threads meet at barrier.wait(). The thread-local state (grad mode,
// dispatch keys) is the caller's, as in for_parts; an exception in any thread lets the others
// out of their barriers and is rethrown here.
template <typename F>
void for_slices(int64_t B, int64_t parts, const F& slice) {
  StepBarrier barrier;
  if (parts <= 1) {
    slice(int64_t{0}, int64_t{1}, int64_t{0}, B, barrier);
    return;
  }
  const at::ThreadLocalState state;
  std::exception_ptr error;
  std::atomic<bool> has_error{false};
#ifdef _OPENMP
#pragma omp parallel num_threads(static_cast<int>(parts))
#endif
  {
#ifdef _OPENMP
    const int64_t P = omp_get_num_threads(), p = omp_get_thread_num();
#else
    const int64_t P = 1, p = 0;
#endif
    barrier.set_threads(static_cast<int>(P));
    try {
      at::ThreadLocalStateGuard guard(state);
      slice(p, P, B * p / P, B * (p + 1) / P, barrier);
    } catch (...) {
      if (!has_error.exchange(true)) error = std::current_exception();
      barrier.fail();
    }
  }
  if (error) std::rethrow_exception(error);
}

// The count, mean and sum of squared deviations (m2) of x [B, n] over the real rows of
// [b0, b1) (every row with a null valid): two passes over rows still in cache.
template <typename T>
int64_t slice_moments(const T* __restrict x, int64_t b0, int64_t b1, int64_t n, const T* valid,
                      T* __restrict mean, T* __restrict m2) {
  std::fill(mean, mean + n, T(0));
  std::fill(m2, m2 + n, T(0));
  int64_t count = 0;
  for (int64_t b = b0; b < b1; ++b) {
    if (valid != nullptr && valid[b] == T(0)) continue;
    ++count;
    const T* __restrict xb = x + b * n;
    IVDEP for (int64_t j = 0; j < n; ++j) mean[j] += xb[j];
  }
  if (count == 0) return 0;
  const T N = T(count);
  IVDEP for (int64_t j = 0; j < n; ++j) mean[j] /= N;
  for (int64_t b = b0; b < b1; ++b) {
    if (valid != nullptr && valid[b] == T(0)) continue;
    const T* __restrict xb = x + b * n;
    IVDEP for (int64_t j = 0; j < n; ++j) m2[j] += (xb[j] - mean[j]) * (xb[j] - mean[j]);
  }
  return count;
}

// The statistics (mean, rstd) of one step's x [B, n] from the P slices' moments (part: [P][2][n],
// counts: [P]; Chan et al.'s pairwise combination, exact for one slice). In training the batch's
// over its real rows, and with `update` the running row (rm, rv) updated as torch's batch norm
// does (lerp with the momentum when rows are masked, as the Python loops); in eval the running
// ones. A step with one real row takes the running ones too, a step without any (0, 1); both
// keep the running row.
template <typename T>
void step_stats(const T* part, const int64_t* counts, int64_t P, int64_t n, bool masked, bool training, bool update,
                double eps, double momentum, T* __restrict rm, T* __restrict rv, T* __restrict mean,
                T* __restrict rstd) {
  int64_t count = 0;
  if (training)
    for (int64_t p = 0; p < P; ++p) count += counts[p];
  if (!training || count == 1) {
    for (int64_t j = 0; j < n; ++j) {
      mean[j] = rm[j];
      rstd[j] = T(1) / std::sqrt(rv[j] + T(eps));
    }
    return;
  }
  if (count == 0) {
    std::fill(mean, mean + n, T(0));
    std::fill(rstd, rstd + n, T(1));
    return;
  }
  const T N = T(count);
  T* __restrict m2 = rstd;  // (the sum of squares, until the end)
  std::fill(mean, mean + n, T(0));
  std::fill(m2, m2 + n, T(0));
  for (int64_t p = 0; p < P; ++p) {
    if (counts[p] == 0) continue;
    const T share = T(counts[p]) / N;
    const T* __restrict pm = part + p * 2 * n;
    IVDEP for (int64_t j = 0; j < n; ++j) mean[j] += share * pm[j];
  }
  for (int64_t p = 0; p < P; ++p) {
    if (counts[p] == 0) continue;
    const T np = T(counts[p]);
    const T* __restrict pm = part + p * 2 * n;
    const T* __restrict pq = pm + n;
    IVDEP for (int64_t j = 0; j < n; ++j) m2[j] += pq[j] + np * (pm[j] - mean[j]) * (pm[j] - mean[j]);
  }
  const T unbias = N / std::max(N - T(1), T(1)), mom = T(momentum);
  for (int64_t j = 0; j < n; ++j) {
    const T var = m2[j] / N;
    if (update) {
      if (!masked) {
        rm[j] = mom * mean[j] + (T(1) - mom) * rm[j];
        rv[j] = mom * (var * unbias) + (T(1) - mom) * rv[j];
      } else {
        rm[j] = lerp_(rm[j], mean[j], mom);
        rv[j] = lerp_(rv[j], var * unbias, mom);
      }
    }
    rstd[j] = T(1) / std::sqrt(var + T(eps));
  }
}

// One step's batch norm y = (x - mean) rstd w (+ shift) of x [B, n], backward, over the rows
// [b0, b1) of one slice. First half, column_sums: the count of real rows and, over them, s1 =
// sum(dy), s2 = sum(dy x_hat) ([2][n]: the slice's share of the gain and shift gradients).
template <typename T>
int64_t column_sums(const T* __restrict dy, const T* __restrict x, const T* __restrict mean,
                    const T* __restrict rstd, const T* valid, int64_t b0, int64_t b1, int64_t n, T* __restrict s) {
  T* __restrict s1 = s;
  T* __restrict s2 = s + n;
  std::fill(s1, s1 + 2 * n, T(0));
  int64_t count = 0;
  for (int64_t b = b0; b < b1; ++b) {
    if (valid != nullptr && valid[b] == T(0)) continue;
    ++count;
    const T* __restrict dyb = dy + b * n;
    const T* __restrict xb = x + b * n;
    IVDEP for (int64_t j = 0; j < n; ++j) {
      s1[j] += dyb[j];
      s2[j] += dyb[j] * ((xb[j] - mean[j]) * rstd[j]);
    }
  }
  return count;
}

// Second half: dx = rstd w (dy - mean(dy) - x_hat mean(dy x_hat)) in training (batch
// statistics, with s = the whole batch's sums over N real rows), rstd w dy in eval and for a
// step with fewer than 2 real rows (running statistics), and 0 on padded rows.
template <typename T>
void column_dx(const T* __restrict dy, const T* __restrict x, const T* __restrict mean, const T* __restrict rstd,
               const T* __restrict w, const T* valid, bool training, const T* __restrict s, int64_t N, int64_t b0,
               int64_t b1, int64_t n, T* __restrict dx) {
  const T* __restrict s1 = s;
  const T* __restrict s2 = s + n;
  const T count = T(std::max<int64_t>(N, 1));
  for (int64_t b = b0; b < b1; ++b) {
    T* __restrict dxb = dx + b * n;
    if (valid != nullptr && valid[b] == T(0)) {
      std::fill(dxb, dxb + n, T(0));
      continue;
    }
    const T* __restrict dyb = dy + b * n;
    const T* __restrict xb = x + b * n;
    if (training && N >= 2) {
      IVDEP for (int64_t j = 0; j < n; ++j)
        dxb[j] = rstd[j] * w[j] * (dyb[j] - s1[j] / count - (xb[j] - mean[j]) * rstd[j] * (s2[j] / count));
    } else {
      IVDEP for (int64_t j = 0; j < n; ++j) dxb[j] = rstd[j] * w[j] * dyb[j];
    }
  }
}

// The whole batch's sums from the slices' (part [P][2][n], counts [P]) into s [2][n]; returns
// the count of real rows. One slice's are used as they are.
template <typename T>
int64_t combine_sums(const T* part, const int64_t* counts, int64_t P, int64_t n, T* __restrict s) {
  int64_t count = counts[0];
  std::copy(part, part + 2 * n, s);
  for (int64_t p = 1; p < P; ++p) {
    count += counts[p];
    const T* __restrict q = part + p * 2 * n;
    IVDEP for (int64_t j = 0; j < 2 * n; ++j) s[j] += q[j];
  }
  return count;
}

template <typename T>
std::tuple<Tensor, Tensor, std::vector<Tensor>> bn_forward_impl(
    at::TensorList acts, const Tensor& w, const OptTensor& packed, const OptTensor& lin,
    const Tensor& h0_in, const Tensor& c0_in, const OptTensor& feed_mask_in, const OptTensor& keep_h_in,
    const OptTensor& keep_c_in, const Tensor& gain_in, const Tensor& w_c_in, const Tensor& b_c_in,
    const Tensor& rm_hh, const Tensor& rv_hh, const Tensor& rm_c, const Tensor& rv_c, const OptTensor& valid_in,
    double momentum_hh, double momentum_c, double eps_hh, double eps_c, bool training, bool need_grad,
    int64_t parts) {
  const char* where = "lstm_bn_forward";
  int64_t T_ = 0;
  for (const auto& a : acts) {
    TORCH_CHECK(a.is_contiguous(), where, ": input chunks must be contiguous");
    T_ += a.size(0);
  }
  TORCH_CHECK(T_ > 0, where, ": no steps");
  const int64_t B = acts[0].size(1), G = acts[0].size(2), H = G / 4;
  for (const auto& a : acts) check_shape(where, "input chunk", a, {a.size(0), B, G});
  check_shape(where, "h0", h0_in, {B, H});
  check_shape(where, "c0", c0_in, {B, H});
  check_shape(where, "w", w, {H, G});
  check_shape(where, "feed_mask", feed_mask_in, {B, H});
  check_shape(where, "keep_h", keep_h_in, {T_, B, H});
  check_shape(where, "keep_c", keep_c_in, {T_, B, H});
  check_shape(where, "gain_hh", gain_in, {G});
  check_shape(where, "w_c", w_c_in, {H});
  check_shape(where, "b_c", b_c_in, {H});
  check_shape(where, "valid", valid_in, {T_, B});
  const int64_t S_hh = rm_hh.size(0), S_c = rm_c.size(0);
  TORCH_CHECK(S_hh >= 1 && S_c >= 1, where, ": no running-statistics rows");
  check_shape(where, "running_mean (recurrent term)", rm_hh, {S_hh, G});
  check_shape(where, "running_var (recurrent term)", rv_hh, {S_hh, G});
  check_shape(where, "running_mean (cell)", rm_c, {S_c, H});
  check_shape(where, "running_var (cell)", rv_c, {S_c, H});
  TORCH_CHECK(rm_hh.is_contiguous() && rv_hh.is_contiguous() && rm_c.is_contiguous() && rv_c.is_contiguous(),
              where, ": running statistics must be contiguous (they are updated in place)");
  check_parts(where, parts, B);
  const StepMatmul rec{w, packed, lin, B / parts};
  const Tensor h0 = h0_in.contiguous(), c0 = c0_in.contiguous(), gain = gain_in.contiguous(),
               w_c = w_c_in.contiguous(), b_c = b_c_in.contiguous();
  const OptTensor feed_mask = contiguous(feed_mask_in), keep_h = contiguous(keep_h_in),
                  keep_c = contiguous(keep_c_in), valid = contiguous(valid_in);
  std::vector<Tensor> a_steps;
  for (const auto& chunk : acts)
    for (int64_t j = 0; j < chunk.size(0); ++j) a_steps.push_back(chunk.select(0, j));
  Tensor out = acts[0].new_empty({T_, B, H});
  std::vector<Tensor> saved;
  Tensor fs, rs;
  if (need_grad) {
    fs = out.new_empty({T_, B, H});
    rs = out.new_empty({T_, B, H});
    saved = {fs, rs};
  }
  // With the backward to come, every step's cell, recurrent term and statistics are kept (slot
  // t); otherwise two slots serve in turn.
  const int64_t slots = need_grad ? T_ : 2;
  std::vector<Tensor> cells, terms;
  for (int64_t s = 0; s < slots; ++s) {
    cells.push_back(out.new_empty({B, H}));
    terms.push_back(out.new_empty({B, G}));
  }
  const Tensor stats_r = out.new_empty({slots, 2, G}), stats_c = out.new_empty({slots, 2, H});
  const Tensor zeros = out.new_zeros({G});
  const Tensor carried = keep_c.has_value() ? out.new_empty({2, B, H}) : Tensor();
  const Tensor fed = feed_mask.has_value() ? out.new_empty({2, B, H}) : Tensor();
  const Tensor fed0 = feed_mask.has_value() ? h0 * *feed_mask : h0;
  // Each slice's moments of the step's recurrent term and cell, and each thread's own copy of
  // the step's statistics (thread 0's is the saved slot).
  const Tensor part_r = out.new_empty({parts, 2, G}), part_c = out.new_empty({parts, 2, H});
  const Tensor own = out.new_empty({parts, 2 * (G + H)});
  std::vector<int64_t> count_r(parts), count_c(parts);
  const int64_t BH = B * H;
  T* const out_p = ptr<T>(out);
  T* const fs_p = need_grad ? ptr<T>(fs) : nullptr;
  T* const rs_p = need_grad ? ptr<T>(rs) : nullptr;
  T* const carried_p = keep_c.has_value() ? ptr<T>(carried) : nullptr;
  T* const fed_p = feed_mask.has_value() ? ptr<T>(fed) : nullptr;
  const T* const kh_p = ptr<T>(keep_h);
  const T* const kc_p = ptr<T>(keep_c);
  const T* const valid_p = ptr<T>(valid);
  for_slices(B, parts, [&](int64_t p, int64_t P, int64_t b0, int64_t b1, StepBarrier& barrier) {
    T* const part_r_p = ptr<T>(part_r) + p * 2 * G;
    T* const part_c_p = ptr<T>(part_c) + p * 2 * H;
    for (int64_t t = 0; t < T_; ++t) {
      const int64_t s = t % slots, s_prev = (t + slots - 1) % slots;
      const Tensor h_in = t == 0 ? fed0 : feed_mask.has_value() ? fed.select(0, (t - 1) % 2) : out.select(0, t - 1);
      rec.into(terms[s].narrow(0, b0, b1 - b0), h_in.narrow(0, b0, b1 - b0));
      const T* v = valid_p ? valid_p + t * B : nullptr;
      T* const m_r = p == 0 ? ptr<T>(stats_r) + s * 2 * G : ptr<T>(own) + p * 2 * (G + H);
      T* const m_c = p == 0 ? ptr<T>(stats_c) + s * 2 * H : m_r + 2 * G;
      const int64_t row_hh = std::min(t, S_hh - 1), row_c = std::min(t, S_c - 1);
      if (training) {
        count_r[p] = slice_moments<T>(ptr<T>(terms[s]), b0, b1, G, v, part_r_p, part_r_p + G);
        if (!barrier.wait()) return;
      }
      step_stats<T>(ptr<T>(part_r), count_r.data(), P, G, v != nullptr, training, p == 0, eps_hh, momentum_hh,
                    ptr<T>(rm_hh) + row_hh * G, ptr<T>(rv_hh) + row_hh * G, m_r, m_r + G);
      const T* c_prev = t == 0 ? ptr<T>(c0) : keep_c.has_value() ? carried_p + ((t - 1) % 2) * BH : ptr<T>(cells[s_prev]);
      const T* h_prev = t == 0 ? ptr<T>(h0) : out_p + (t - 1) * BH;
      T* const a = ptr<T>(a_steps[t]);
      const GatesStep<T> gk{a, ptr<T>(terms[s]), ptr<T>(gain), m_r, m_r + G, eps_hh, v, ptr<T>(zeros),
                            c_prev, ptr<T>(cells[s]), need_grad ? fs_p + t * BH : nullptr};
      with_flags([&](auto grad) {
        for (int64_t b = b0; b < b1; ++b) gates_row<T, decltype(grad)::value, false, true>(gk, b, H);
      }, need_grad);
      if (training) {
        count_c[p] = slice_moments<T>(ptr<T>(cells[s]), b0, b1, H, v, part_c_p, part_c_p + H);
        if (!barrier.wait()) return;
      }
      step_stats<T>(ptr<T>(part_c), count_c.data(), P, H, v != nullptr, training, p == 0, eps_c, momentum_c,
                    ptr<T>(rm_c) + row_c * H, ptr<T>(rv_c) + row_c * H, m_c, m_c + H);
      const OutputStep<T> ok{a, ptr<T>(cells[s]), ptr<T>(w_c), ptr<T>(b_c), m_c, m_c + H, eps_c, v, ptr<T>(zeros),
                             c_prev, h_prev, kh_p ? kh_p + t * BH : nullptr, kc_p ? kc_p + t * BH : nullptr,
                             ptr<T>(feed_mask), out_p + t * BH, carried_p ? carried_p + (t % 2) * BH : nullptr,
                             fed_p ? fed_p + (t % 2) * BH : nullptr, need_grad ? rs_p + t * BH : nullptr};
      with_flags([&](auto grad, auto keep_h_, auto keep_c_, auto mask) {
        for (int64_t b = b0; b < b1; ++b)
          output_row<T, decltype(grad)::value, decltype(keep_h_)::value, decltype(keep_c_)::value,
                     decltype(mask)::value, false, true>(ok, b, H);
      }, need_grad, kh_p != nullptr, kc_p != nullptr, feed_mask.has_value());
    }
  });
  if (need_grad) {  // recurrent terms, cells, then (mean, rstd) of each step's r, of its c
    saved.insert(saved.end(), terms.begin(), terms.end());
    saved.insert(saved.end(), cells.begin(), cells.end());
    for (const Tensor* st : {&stats_r, &stats_c})
      for (int64_t t = 0; t < T_; ++t) saved.insert(saved.end(), {(*st)[t][0], (*st)[t][1]});
  }
  const Tensor c_last = keep_c.has_value() ? carried[(T_ - 1) % 2] : cells[(T_ - 1) % slots];
  return {out, c_last, saved};
}

std::tuple<Tensor, Tensor, std::vector<Tensor>> lstm_bn_forward(
    at::TensorList acts, const Tensor& w, const OptTensor& packed, const OptTensor& lin,
    const Tensor& h0, const Tensor& c0, const OptTensor& feed_mask, const OptTensor& keep_h,
    const OptTensor& keep_c, const Tensor& gain_hh, const Tensor& w_c, const Tensor& b_c, const Tensor& rm_hh,
    const Tensor& rv_hh, const Tensor& rm_c, const Tensor& rv_c, const OptTensor& valid, double momentum_hh,
    double momentum_c, double eps_hh, double eps_c, bool training, bool need_grad, int64_t parts) {
  TORCH_CHECK(!acts.empty(), "lstm_bn_forward: no input chunks");
  const Tensor& ref = acts[0];
  TORCH_CHECK(ref.device().is_cpu(), "lstm_bn_forward: the compiled loop runs on the CPU, got ", ref.device());
  const OptTensor others[] = {h0, c0, gain_hh, w_c, b_c, rm_hh, rv_hh, rm_c, rv_c};
  for (const auto& o : others) check_dtypes("lstm_bn_forward", ref, {&o});
  check_dtypes("lstm_bn_forward", ref, {&feed_mask, &keep_h, &keep_c, &valid});
  return AT_DISPATCH_FLOATING_TYPES(ref.scalar_type(), "lstm_bn_forward", [&] {
    return bn_forward_impl<scalar_t>(acts, w, packed, lin, h0, c0, feed_mask, keep_h, keep_c, gain_hh, w_c, b_c,
                                     rm_hh, rv_hh, rm_c, rv_c, valid, momentum_hh, momentum_c, eps_hh, eps_c,
                                     training, need_grad, parts);
  });
}

template <typename T>
std::tuple<Tensor, Tensor> bn_backward_impl(
    int64_t t0, const Tensor& q, const Tensor& buf, const Tensor& dh_in, const Tensor& dc_in,
    const Tensor& fs, const Tensor& rs, const Tensor& d_out, const Tensor& w,
    const OptTensor& packed, const OptTensor& lin, const OptTensor& feed_mask_in,
    const OptTensor& keep_h_in, const OptTensor& keep_c_in, at::TensorList rr, at::TensorList cn,
    at::TensorList stats, const Tensor& gain_in, const Tensor& w_c_in, const OptTensor& valid_in, bool training,
    const Tensor& d_gain, const Tensor& d_wc, const Tensor& d_bc, const Tensor& d_r, int64_t parts) {
  const int64_t n = q.size(0), B = q.size(1), G = q.size(2), H = G / 4, T_ = fs.size(0);
  const char* where = "lstm_bn_backward_chunk";
  check_backward_chunk(where, t0, n, B, G, H, T_, buf, dh_in, dc_in, fs, rs, d_out, w, feed_mask_in, keep_h_in, keep_c_in);
  check_shape(where, "valid", valid_in, {T_, B});
  check_shape(where, "d_r", d_r, {buf.size(0), B, G});
  TORCH_CHECK(static_cast<int64_t>(rr.size()) == T_ && static_cast<int64_t>(cn.size()) == T_ &&
                  static_cast<int64_t>(stats.size()) == 4 * T_,
              where, ": batch-norm tensors do not match ", T_, " steps");
  for (const auto& [name, x, size] : {std::tuple{"gain_hh", &gain_in, G}, std::tuple{"w_c", &w_c_in, H},
                                      std::tuple{"d_gain_hh", &d_gain, G}, std::tuple{"d_w_c", &d_wc, H},
                                      std::tuple{"d_b_c", &d_bc, H}}) {
    TORCH_CHECK(x->is_contiguous(), where, ": batch norm needs a contiguous ", name);
    check_shape(where, name, *x, {size});
  }
  for (int64_t t = t0; t < t0 + n; ++t) {
    check_shape(where, "recurrent term", rr[t], {B, G});
    check_shape(where, "cell", cn[t], {B, H});
    for (int64_t i : {2 * t, 2 * t + 1}) check_shape(where, "statistics", stats[i], {G});
    for (int64_t i : {2 * T_ + 2 * t, 2 * T_ + 2 * t + 1}) check_shape(where, "statistics", stats[i], {H});
    TORCH_CHECK(rr[t].is_contiguous() && cn[t].is_contiguous() && stats[2 * t].is_contiguous() &&
                    stats[2 * t + 1].is_contiguous() && stats[2 * T_ + 2 * t].is_contiguous() &&
                    stats[2 * T_ + 2 * t + 1].is_contiguous(),
                where, ": batch-norm tensors must be contiguous");
  }
  TORCH_CHECK(q.is_contiguous() && buf.is_contiguous() && fs.is_contiguous() && rs.is_contiguous() &&
                  d_r.is_contiguous(),
              where, ": saved tensors must be contiguous");
  const Tensor d_out_c = d_out.contiguous();
  const OptTensor feed_mask = contiguous(feed_mask_in), keep_h = contiguous(keep_h_in),
                  keep_c = contiguous(keep_c_in), valid = contiguous(valid_in);
  check_parts(where, parts, B);
  const StepMatmul rec{w, packed, lin, B / parts};
  const Tensor dh_last = dh_in.contiguous(), dc_last = dc_in.contiguous();
  const Tensor dhs = dh_last.new_empty({2, B, H}), dcs = dh_last.new_empty({2, B, H});
  const Tensor extra = dh_last.new_empty({B, H});
  const Tensor d_c = dh_last.new_empty({2, B, H});  // the cell norm's dy, then its dx
  // Each slice's sums (s1, s2) for the cell's norm and the recurrent term's, each thread's
  // copy of the whole batch's, and each slice's gain gradients (d_gain_hh, d_w_c, d_b_c; added
  // in after the join).
  const Tensor part_c = dh_last.new_empty({parts, 2, H}), part_r = dh_last.new_empty({parts, 2, G});
  const Tensor whole = dh_last.new_empty({parts, 2, G});
  const Tensor gains = dh_last.new_zeros({parts, G + 2 * H});
  std::vector<int64_t> count_c(parts), count_r(parts);
  const int64_t BH = B * H, BG = B * G;
  T* const dhs_p = ptr<T>(dhs);
  T* const dcs_p = ptr<T>(dcs);
  T* const d_c_p = ptr<T>(d_c);
  const T* const kh_p = ptr<T>(keep_h);
  const T* const d_out_p = ptr<T>(d_out_c);
  const T* const valid_p = ptr<T>(valid);
  for_slices(B, parts, [&](int64_t p, int64_t P, int64_t b0, int64_t b1, StepBarrier& barrier) {
    T* const part_c_p = ptr<T>(part_c) + p * 2 * H;
    T* const part_r_p = ptr<T>(part_r) + p * 2 * G;
    T* const whole_p = ptr<T>(whole) + p * 2 * G;
    T* const d_gain_p = ptr<T>(gains) + p * (G + 2 * H);
    T* const d_wc_p = d_gain_p + G;
    T* const d_bc_p = d_gain_p + G + H;
    for (int64_t t = t0 + n - 1; t >= t0; --t) {
      const int64_t j = t - t0, after = (j + 1) % 2;
      const bool last = t == t0 + n - 1;
      const T* dh_p = last ? ptr<T>(dh_last) : dhs_p + after * BH;
      const T* kh = kh_p ? kh_p + t * BH : nullptr;
      const T* rs_t = ptr<T>(rs) + t * BH;
      const T* v = valid_p ? valid_p + t * B : nullptr;
      // back through the cell's norm: dy = dh through the new state, times o(1 - tanh^2)
      if (kh != nullptr) {
        IVDEP for (int64_t i = b0 * H; i < b1 * H; ++i) d_c_p[i] = (dh_p[i] - dh_p[i] * kh[i]) * rs_t[i];
      } else {
        IVDEP for (int64_t i = b0 * H; i < b1 * H; ++i) d_c_p[i] = dh_p[i] * rs_t[i];
      }
      const T* mean_c = ptr<T>(stats[2 * T_ + 2 * t]);
      const T* rstd_c = ptr<T>(stats[2 * T_ + 2 * t + 1]);
      count_c[p] = column_sums<T>(d_c_p, ptr<T>(cn[t]), mean_c, rstd_c, v, b0, b1, H, part_c_p);
      IVDEP for (int64_t i = 0; i < H; ++i) {
        d_bc_p[i] += part_c_p[i];
        d_wc_p[i] += part_c_p[H + i];
      }
      if (training && !barrier.wait()) return;
      const int64_t N_c = training ? combine_sums<T>(ptr<T>(part_c), count_c.data(), P, H, whole_p) : 0;
      column_dx<T>(d_c_p, ptr<T>(cn[t]), mean_c, rstd_c, ptr<T>(w_c_in), v, training, whole_p, N_c, b0, b1, H,
                   d_c_p + BH);
      const BackwardStep<T> k{
          dh_p, last ? ptr<T>(dc_last) : dcs_p + after * BH, kh, ptr<T>(keep_c) ? ptr<T>(keep_c) + t * BH : nullptr,
          rs_t, ptr<T>(q) + j * BG, ptr<T>(fs) + t * BH, t > 0 ? d_out_p + (t - 1) * BH : nullptr,
          nullptr, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr,
          nullptr, d_c_p, B, ptr<T>(buf) + j * BG, dcs_p + (j % 2) * BH, ptr<T>(extra)};
      with_flags([&](auto keep_h_, auto keep_c_, auto prev) {
        for (int64_t b = b0; b < b1; ++b)
          backward_row<T, decltype(keep_h_)::value, decltype(keep_c_)::value, decltype(prev)::value, false, true>(
              k, b, H);
      }, kh != nullptr, keep_c.has_value(), t > 0);
      // then back through the recurrent term's norm (dy: the gate gradients just written)
      const T* mean_r = ptr<T>(stats[2 * t]);
      const T* rstd_r = ptr<T>(stats[2 * t + 1]);
      count_r[p] = column_sums<T>(ptr<T>(buf) + j * BG, ptr<T>(rr[t]), mean_r, rstd_r, v, b0, b1, G, part_r_p);
      IVDEP for (int64_t i = 0; i < G; ++i) d_gain_p[i] += part_r_p[G + i];
      if (training && !barrier.wait()) return;
      const int64_t N_r = training ? combine_sums<T>(ptr<T>(part_r), count_r.data(), P, G, whole_p) : 0;
      column_dx<T>(ptr<T>(buf) + j * BG, ptr<T>(rr[t]), mean_r, rstd_r, ptr<T>(gain_in), v, training, whole_p, N_r,
                   b0, b1, G, ptr<T>(d_r) + j * BG);
      state_grad_rows(rec, dhs.select(0, j % 2), d_r.select(0, j).narrow(0, b0, b1 - b0), extra, feed_mask, b0, b1);
    }
  });
  const Tensor total = gains.sum(0);
  d_gain.add_(total.narrow(0, 0, G));
  d_wc.add_(total.narrow(0, G, H));
  d_bc.add_(total.narrow(0, G + H, H));
  return {dhs[0], dcs[0]};
}

std::tuple<Tensor, Tensor> lstm_bn_backward_chunk(
    int64_t t0, const Tensor& q, const Tensor& buf, const Tensor& dh, const Tensor& dc,
    const Tensor& fs, const Tensor& rs, const Tensor& d_out, const Tensor& w,
    const OptTensor& packed, const OptTensor& lin, const OptTensor& feed_mask,
    const OptTensor& keep_h, const OptTensor& keep_c, at::TensorList rr, at::TensorList cn,
    at::TensorList stats, const Tensor& gain_hh, const Tensor& w_c, const OptTensor& valid, bool training,
    const Tensor& d_gain_hh, const Tensor& d_w_c, const Tensor& d_b_c, const Tensor& d_r, int64_t parts) {
  TORCH_CHECK(q.device().is_cpu(), "lstm_bn_backward_chunk: the compiled loop runs on the CPU, got ", q.device());
  const OptTensor others[] = {buf, dh, dc, fs, rs, d_out, gain_hh, w_c, d_gain_hh, d_w_c, d_b_c, d_r};
  for (const auto& o : others) check_dtypes("lstm_bn_backward_chunk", q, {&o});
  check_dtypes("lstm_bn_backward_chunk", q, {&feed_mask, &keep_h, &keep_c, &valid});
  return AT_DISPATCH_FLOATING_TYPES(q.scalar_type(), "lstm_bn_backward_chunk", [&] {
    return bn_backward_impl<scalar_t>(t0, q, buf, dh, dc, fs, rs, d_out, w, packed, lin, feed_mask, keep_h, keep_c,
                                      rr, cn, stats, gain_hh, w_c, valid, training, d_gain_hh, d_w_c, d_b_c, d_r,
                                      parts);
  });
}

// The input term's batch norm, backward, for n steps at once (a chunk of the backward): dy, x
// [n, B, F], each step's statistics mean, rstd [n, 1, F], gain w [F]; writes dx [n, B, F] (0 on
// padded rows) and adds the gain's and shift's gradients into d_w and d_b (if given). The
// steps are independent, so they run on torch's threads, one fork for the chunk; in place of
// ~8 tensor calls each making a [n, B, F] temporary (and, with padding, 3 more selections).
template <typename T>
void bn_steps_backward_impl(const Tensor& dy_in, const Tensor& x_in, const Tensor& mean_in, const Tensor& rstd_in,
                            const Tensor& w_in, const OptTensor& valid_in, bool training, const Tensor& d_w,
                            const OptTensor& d_b, const Tensor& dx) {
  const char* where = "bn_backward_steps";
  const int64_t n = x_in.size(0), B = x_in.size(1), F = x_in.size(2);
  check_shape(where, "dy", dy_in, {n, B, F});
  check_shape(where, "mean", mean_in, {n, 1, F});
  check_shape(where, "rstd", rstd_in, {n, 1, F});
  check_shape(where, "weight", w_in, {F});
  check_shape(where, "valid", valid_in, {n, B});
  check_shape(where, "d_weight", d_w, {F});
  check_shape(where, "d_bias", d_b, {F});
  check_shape(where, "dx", dx, {n, B, F});
  TORCH_CHECK(dx.is_contiguous(), where, ": dx must be contiguous");
  const Tensor dy = dy_in.contiguous(), x = x_in.contiguous(), mean = mean_in.contiguous(),
               rstd = rstd_in.contiguous(), w = w_in.contiguous();
  const OptTensor valid = contiguous(valid_in);
  at::assert_no_overlap(dx, dy);  // (the row passes read dy and x through restrict pointers)
  at::assert_no_overlap(dx, x);
  const Tensor sums = x.new_empty({n, 2, F});  // each step's sum(dy), sum(dy x_hat)
  const T* const valid_p = ptr<T>(valid);
  at::parallel_for(0, n, 1, [&](int64_t j0, int64_t j1) {
    for (int64_t j = j0; j < j1; ++j) {
      const T* v = valid_p ? valid_p + j * B : nullptr;
      const T* dy_j = ptr<T>(dy) + j * B * F;
      const T* x_j = ptr<T>(x) + j * B * F;
      const T* m_j = ptr<T>(mean) + j * F;
      const T* r_j = ptr<T>(rstd) + j * F;
      T* s = ptr<T>(sums) + j * 2 * F;
      const int64_t N = column_sums<T>(dy_j, x_j, m_j, r_j, v, 0, B, F, s);
      column_dx<T>(dy_j, x_j, m_j, r_j, ptr<T>(w), v, training, s, N, 0, B, F, ptr<T>(dx) + j * B * F);
    }
  });
  const Tensor total = sums.sum(0);
  d_w.add_(total[1]);
  if (d_b.has_value()) d_b->add_(total[0]);
}

void bn_backward_steps(const Tensor& dy, const Tensor& x, const Tensor& mean, const Tensor& rstd,
                       const Tensor& weight, const OptTensor& valid, bool training, const Tensor& d_weight,
                       const OptTensor& d_bias, const Tensor& dx) {
  TORCH_CHECK(x.device().is_cpu(), "bn_backward_steps: the compiled loop runs on the CPU, got ", x.device());
  TORCH_CHECK(x.dim() == 3, "bn_backward_steps: x expected [steps, batch, features], got ", x.sizes());
  const OptTensor others[] = {dy, mean, rstd, weight, d_weight, dx};
  for (const auto& o : others) check_dtypes("bn_backward_steps", x, {&o});
  check_dtypes("bn_backward_steps", x, {&valid, &d_bias});
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "bn_backward_steps", [&] {
    bn_steps_backward_impl<scalar_t>(dy, x, mean, rstd, weight, valid, training, d_weight, d_bias, dx);
  });
}

// The input term's batch norm for n steps at once (a chunk of the forward): z [n, B, F] (W_ih x)
// normalized in place, times the gain w [F], plus the bias b [F] (if given), padded rows (valid
// 0) as zeros. In training each step's statistics over its real rows are written to mean, rstd
// [n, 1, F], and its moments (mean and biased variance, [2, n, F]) and count of real rows
// [n, 1] for the running statistics, which the caller updates in the order of positions; in
// eval mean and rstd are read (the running ones). In training a step with one real row takes
// the running statistics run_mean, run_rstd [n, 1, F] (the caller's, read before this batch
// moves them; without them, its batch's), and one without any (0, 1). Steps on torch's threads,
// no temporaries.
template <typename T>
void bn_steps_forward_impl(const Tensor& z, const OptTensor& valid_in, const Tensor& w_in, const OptTensor& b_in,
                           double eps, bool training, const Tensor& mean, const Tensor& rstd, const OptTensor& moments,
                           const OptTensor& count, const OptTensor& run_mean_in, const OptTensor& run_rstd_in) {
  const char* where = "bn_forward_steps";
  const int64_t n = z.size(0), B = z.size(1), F = z.size(2);
  check_shape(where, "valid", valid_in, {n, B});
  check_shape(where, "weight", w_in, {F});
  check_shape(where, "bias", b_in, {F});
  check_shape(where, "mean", mean, {n, 1, F});
  check_shape(where, "rstd", rstd, {n, 1, F});
  check_shape(where, "moments", moments, {2, n, F});
  check_shape(where, "count", count, {n, 1});
  check_shape(where, "running_mean", run_mean_in, {n, 1, F});
  check_shape(where, "running_rstd", run_rstd_in, {n, 1, F});
  TORCH_CHECK(run_mean_in.has_value() == run_rstd_in.has_value(), where,
              ": running_mean and running_rstd go together");
  TORCH_CHECK(z.is_contiguous() && mean.is_contiguous() && rstd.is_contiguous() &&
                  (!moments.has_value() || moments->is_contiguous()) && (!count.has_value() || count->is_contiguous()),
              where, ": z, mean, rstd, moments and count must be contiguous (they are written in place)");
  TORCH_CHECK(!training || (moments.has_value() && count.has_value()), where,
              ": training needs the moments and count tensors");
  const Tensor w = w_in.contiguous();
  const OptTensor b = contiguous(b_in), valid = contiguous(valid_in), run_mean = contiguous(run_mean_in),
                  run_rstd = contiguous(run_rstd_in);
  const T* const valid_p = ptr<T>(valid);
  const T* const w_p = ptr<T>(w);
  const T* const b_p = ptr<T>(b);
  const T* const rm_p = ptr<T>(run_mean);
  const T* const rr_p = ptr<T>(run_rstd);
  at::parallel_for(0, n, 1, [&](int64_t j0, int64_t j1) {
    for (int64_t j = j0; j < j1; ++j) {
      const T* v = valid_p ? valid_p + j * B : nullptr;
      T* zj = ptr<T>(z) + j * B * F;
      T* __restrict m = ptr<T>(mean) + j * F;
      T* __restrict r = ptr<T>(rstd) + j * F;
      if (training) {
        T* __restrict mu = ptr<T>(*moments) + j * F;
        T* __restrict var = ptr<T>(*moments) + (n + j) * F;
        const int64_t N = slice_moments<T>(zj, 0, B, F, v, mu, var);  // (var: the squared deviations' sum)
        ptr<T>(*count)[j] = T(N);
        const T count_ = T(std::max<int64_t>(N, 1));
        for (int64_t k = 0; k < F; ++k) var[k] /= count_;
        if (N == 1 && rm_p != nullptr) {
          std::copy(rm_p + j * F, rm_p + (j + 1) * F, m);
          std::copy(rr_p + j * F, rr_p + (j + 1) * F, r);
        } else {
          for (int64_t k = 0; k < F; ++k) {
            m[k] = N > 0 ? mu[k] : T(0);
            r[k] = N > 0 ? T(1) / std::sqrt(var[k] + T(eps)) : T(1);
          }
        }
      }
      for (int64_t bb = 0; bb < B; ++bb) {
        T* __restrict zb = zj + bb * F;
        if (v != nullptr && v[bb] == T(0)) {  // padding: selected away, whatever it holds
          if (b_p) IVDEP for (int64_t k = 0; k < F; ++k) zb[k] = (T(0) - m[k]) * (r[k] * w_p[k]) + b_p[k];
          else IVDEP for (int64_t k = 0; k < F; ++k) zb[k] = (T(0) - m[k]) * (r[k] * w_p[k]);
        } else {
          if (b_p) IVDEP for (int64_t k = 0; k < F; ++k) zb[k] = (zb[k] - m[k]) * (r[k] * w_p[k]) + b_p[k];
          else IVDEP for (int64_t k = 0; k < F; ++k) zb[k] = (zb[k] - m[k]) * (r[k] * w_p[k]);
        }
      }
    }
  });
}

void bn_forward_steps(const Tensor& z, const OptTensor& valid, const Tensor& weight, const OptTensor& bias, double eps,
                      bool training, const Tensor& mean, const Tensor& rstd, const OptTensor& moments,
                      const OptTensor& count, const OptTensor& running_mean, const OptTensor& running_rstd) {
  TORCH_CHECK(z.device().is_cpu(), "bn_forward_steps: the compiled loop runs on the CPU, got ", z.device());
  TORCH_CHECK(z.dim() == 3, "bn_forward_steps: z expected [steps, batch, features], got ", z.sizes());
  const OptTensor others[] = {weight, mean, rstd};
  for (const auto& o : others) check_dtypes("bn_forward_steps", z, {&o});
  check_dtypes("bn_forward_steps", z, {&valid, &bias, &moments, &count, &running_mean, &running_rstd});
  AT_DISPATCH_FLOATING_TYPES(z.scalar_type(), "bn_forward_steps", [&] {
    bn_steps_forward_impl<scalar_t>(z, valid, weight, bias, eps, training, mean, rstd, moments, count, running_mean,
                                    running_rstd);
  });
}

// ---------------------------------------------------------------------------------------
// The conv front-end's max-pool over time (rnnlab/train/frontend.py, max_pool_time): y [R, T]
// (rows: batch x channels) -> out [R, ceil(T / pool)], each output the maximum of its window of
// `pool` steps, the last window the steps that remain. It computes what
// `pad(y, -inf).unflatten(-1, (-1, pool)).amax(-1)` and its backward compute, bit for bit: a
// NaN in a window is its maximum; the gradient of a window goes to every step equal to its
// maximum, divided by their count (the padding's -inf steps count where the maximum is -inf),
// as (g / count) * 1 there and (g / count) * 0 elsewhere. One pass forward and one backward,
// where the tensor ops take a padded copy, a comparison, a count, a division and a product.

// One window of `n` steps (the compile-time P, or n): branch-free, so that the loops over a row's
// windows vectorize.
template <typename T>
inline T window_max(const T* __restrict y, int64_t n) {
  T m = y[0];
  bool nan = m != m;
  for (int64_t k = 1; k < n; ++k) {
    const T v = y[k];
    m = v > m ? v : m;
    nan |= v != v;
  }
  return nan ? std::numeric_limits<T>::quiet_NaN() : m;
}

template <typename T>
inline void window_grad(const T* __restrict y, T m, T g, int64_t n, int64_t padding, T* __restrict d) {
  T count = 0;  // (a small integer: exact in T, as torch's count converted for the division)
  for (int64_t k = 0; k < n; ++k) count += y[k] == m ? T(1) : T(0);
  if (padding > 0 && m == -std::numeric_limits<T>::infinity()) count += T(padding);  // the padding's -inf steps
  const T q = g / count;
  for (int64_t k = 0; k < n; ++k) d[k] = q * (y[k] == m ? T(1) : T(0));
}

// A row's full windows with the window's size known at compile time (P > 0) or not (P = 0).
template <typename T, int P>
void pool_rows_forward(const T* __restrict y, T* __restrict out, int64_t r0, int64_t r1, int64_t T_, int64_t pool) {
  const int64_t p = P > 0 ? P : pool, full = T_ / p, n = (T_ + p - 1) / p;
  for (int64_t r = r0; r < r1; ++r) {
    const T* yr = y + r * T_;
    T* o = out + r * n;
    for (int64_t j = 0; j < full; ++j) o[j] = window_max<T>(yr + j * p, p);
    if (full < n) o[full] = window_max<T>(yr + full * p, T_ - full * p);
  }
}

template <typename T, int P>
void pool_rows_backward(const T* __restrict g, const T* __restrict y, const T* __restrict out, T* __restrict d,
                        int64_t r0, int64_t r1, int64_t T_, int64_t pool) {
  const int64_t p = P > 0 ? P : pool, full = T_ / p, n = (T_ + p - 1) / p;
  for (int64_t r = r0; r < r1; ++r) {
    const T* yr = y + r * T_;
    T* dr = d + r * T_;
    for (int64_t j = 0; j < full; ++j) window_grad<T>(yr + j * p, out[r * n + j], g[r * n + j], p, 0, dr + j * p);
    if (full < n) {
      const int64_t rest = T_ - full * p;
      window_grad<T>(yr + full * p, out[r * n + full], g[r * n + full], rest, p - rest, dr + full * p);
    }
  }
}

template <typename T>
void pool_time_forward_impl(const Tensor& y, int64_t pool, const Tensor& out) {
  const int64_t T_ = y.size(-1), R = y.numel() / T_;
  const T* const y_p = y.data_ptr<T>();
  T* const o_p = out.data_ptr<T>();
  at::parallel_for(0, R, 64, [&](int64_t r0, int64_t r1) {
    if (pool == 2) pool_rows_forward<T, 2>(y_p, o_p, r0, r1, T_, pool);
    else if (pool == 4) pool_rows_forward<T, 4>(y_p, o_p, r0, r1, T_, pool);
    else pool_rows_forward<T, 0>(y_p, o_p, r0, r1, T_, pool);
  });
}

template <typename T>
void pool_time_backward_impl(const Tensor& g, const Tensor& y, const Tensor& out, int64_t pool, const Tensor& dy) {
  const int64_t T_ = y.size(-1), R = y.numel() / T_;
  const T* const g_p = g.data_ptr<T>();
  const T* const y_p = y.data_ptr<T>();
  const T* const o_p = out.data_ptr<T>();
  T* const d_p = dy.data_ptr<T>();
  at::parallel_for(0, R, 64, [&](int64_t r0, int64_t r1) {
    if (pool == 2) pool_rows_backward<T, 2>(g_p, y_p, o_p, d_p, r0, r1, T_, pool);
    else if (pool == 4) pool_rows_backward<T, 4>(g_p, y_p, o_p, d_p, r0, r1, T_, pool);
    else pool_rows_backward<T, 0>(g_p, y_p, o_p, d_p, r0, r1, T_, pool);
  });
}

void check_pool_time(const char* where, const Tensor& y, int64_t pool) {
  TORCH_CHECK(y.device().is_cpu(), where, ": the compiled pool runs on the CPU, got ", y.device());
  TORCH_CHECK(y.dim() >= 1 && y.size(-1) >= 1, where, ": y expected [..., steps] with steps >= 1, got ", y.sizes());
  TORCH_CHECK(pool >= 1, where, ": pool expected >= 1, got ", pool);
}

Tensor max_pool_time(const Tensor& y_in, int64_t pool) {
  check_pool_time("max_pool_time", y_in, pool);
  const Tensor y = y_in.contiguous();
  std::vector<int64_t> shape(y.sizes().begin(), y.sizes().end());
  shape.back() = (shape.back() + pool - 1) / pool;
  Tensor out = y.new_empty(shape);
  AT_DISPATCH_FLOATING_TYPES(y.scalar_type(), "max_pool_time", [&] { pool_time_forward_impl<scalar_t>(y, pool, out); });
  return out;
}

Tensor max_pool_time_backward(const Tensor& g_in, const Tensor& y_in, const Tensor& out_in, int64_t pool) {
  const char* where = "max_pool_time_backward";
  check_pool_time(where, y_in, pool);
  std::vector<int64_t> shape(y_in.sizes().begin(), y_in.sizes().end());
  shape.back() = (shape.back() + pool - 1) / pool;
  check_shape(where, "grad", g_in, shape);
  check_shape(where, "out", out_in, shape);
  const OptTensor others[] = {g_in, out_in};
  for (const auto& o : others) check_dtypes(where, y_in, {&o});
  const Tensor g = g_in.contiguous(), y = y_in.contiguous(), out = out_in.contiguous();
  Tensor dy = at::empty_like(y, at::MemoryFormat::Contiguous);
  AT_DISPATCH_FLOATING_TYPES(y.scalar_type(), "max_pool_time_backward", [&] { pool_time_backward_impl<scalar_t>(g, y, out, pool, dy); });
  return dy;
}

}  // namespace

TORCH_LIBRARY(rnnlab, m) {
  m.def(
      "lstm_forward(Tensor(a!)[] acts, Tensor w, Tensor? packed, Tensor? lin, Tensor h0, "
      "Tensor c0, Tensor? feed_mask, Tensor? keep_h, Tensor? keep_c, Tensor? ln_w_hh, "
      "Tensor? ln_w_c, Tensor? ln_b_c, float eps, float eps_c, bool need_grad, int parts) -> (Tensor, Tensor, Tensor[])");
  m.def(
      "lstm_backward_chunk(int t0, Tensor q, Tensor(a!) buf, Tensor dh, Tensor dc, Tensor fs, "
      "Tensor rs, Tensor d_out, Tensor w, Tensor? packed, Tensor? lin, Tensor? feed_mask, "
      "Tensor? keep_h, Tensor? keep_c, Tensor[] rr, Tensor[] cn, Tensor[] stats, "
      "Tensor? ln_w_hh, Tensor? ln_w_c, Tensor? ln_b_c, Tensor(b!)? d_ln_hh, "
      "Tensor(c!)? d_ln_wc, Tensor(d!)? d_ln_bc, Tensor(e!)? d_r, int parts) -> (Tensor, Tensor)");
  m.def(
      "lstm_bn_forward(Tensor(a!)[] acts, Tensor w, Tensor? packed, Tensor? lin, Tensor h0, Tensor c0, "
      "Tensor? feed_mask, Tensor? keep_h, Tensor? keep_c, Tensor gain_hh, Tensor w_c, Tensor b_c, "
      "Tensor(b!) rm_hh, Tensor(c!) rv_hh, Tensor(d!) rm_c, Tensor(e!) rv_c, Tensor? valid, float momentum_hh, "
      "float momentum_c, float eps_hh, float eps_c, bool training, bool need_grad, int parts=1) -> "
      "(Tensor, Tensor, Tensor[])");
  m.def(
      "lstm_bn_backward_chunk(int t0, Tensor q, Tensor(a!) buf, Tensor dh, Tensor dc, Tensor fs, "
      "Tensor rs, Tensor d_out, Tensor w, Tensor? packed, Tensor? lin, Tensor? feed_mask, "
      "Tensor? keep_h, Tensor? keep_c, Tensor[] rr, Tensor[] cn, Tensor[] stats, Tensor gain_hh, Tensor w_c, "
      "Tensor? valid, bool training, Tensor(b!) d_gain_hh, Tensor(c!) d_w_c, Tensor(d!) d_b_c, "
      "Tensor(e!) d_r, int parts=1) -> (Tensor, Tensor)");
  m.def(
      "bn_forward_steps(Tensor(a!) z, Tensor? valid, Tensor weight, Tensor? bias, float eps, bool training, "
      "Tensor(b!) mean, Tensor(c!) rstd, Tensor(d!)? moments, Tensor(e!)? count, Tensor? running_mean=None, "
      "Tensor? running_rstd=None) -> ()");
  m.def(
      "bn_backward_steps(Tensor dy, Tensor x, Tensor mean, Tensor rstd, Tensor weight, Tensor? valid, "
      "bool training, Tensor(a!) d_weight, Tensor(b!)? d_bias, Tensor(c!) dx) -> ()");
  m.def("max_pool_time(Tensor y, int pool) -> Tensor");
  m.def("max_pool_time_backward(Tensor grad, Tensor y, Tensor out, int pool) -> Tensor");
}

// CompositeExplicitAutograd, not CPU: the packed weight is an MKL-DNN tensor, whose dispatch key
// would otherwise select a missing MkldnnCPU kernel. The kernels check the device themselves.
TORCH_LIBRARY_IMPL(rnnlab, CompositeExplicitAutograd, m) {
  m.impl("lstm_forward", &lstm_forward);
  m.impl("lstm_backward_chunk", &lstm_backward_chunk);
  m.impl("lstm_bn_forward", &lstm_bn_forward);
  m.impl("lstm_bn_backward_chunk", &lstm_bn_backward_chunk);
  m.impl("bn_forward_steps", &bn_forward_steps);
  m.impl("bn_backward_steps", &bn_backward_steps);
  m.impl("max_pool_time", &max_pool_time);
  m.impl("max_pool_time_backward", &max_pool_time_backward);
}
