"""Numba kernels of the CPU GRU backend: the recurrence only, forward and backward (BPTT).

Legend:  T: time steps  B: batch  I: input features  H: hidden units  G = 3H: gate rows (r, z, n)

Everything that is one large matrix product over all steps (the input projection, the weight
gradients, dx) stays in torch; these kernels hold only the per-step work: the recurrent product
(B, H) x (H, 3H) and the gate arithmetic. Rows of the batch are independent through the whole
recurrence, so the kernels take a block of rows [b0, b1) and release the GIL (`nogil`): the
launcher runs one block per thread for all T steps, with no per-step synchronisation.

Rows are processed in tiles of `TILE`, so each weight element loaded from cache feeds `TILE`
multiply-adds; the contraction is unrolled by 4 so an accumulator load/store feeds 4 of them.
Inner loops run over contiguous memory so LLVM vectorizes them.

`saved` (T, B, 5H) holds what backward needs, per step and row: r, z, n, a, h_prev, where
a = W_hn h_prev + b_hn (reset_after=True) or r * h_prev (reset_after=False).

The gates need exp; numba's `math.exp` is a scalar libm call that stops the loops vectorizing
(and dominated the forward). `_expm1` below is a vectorizable Cody-Waite reduction + Taylor
polynomial accurate to about 1 ulp (float32: degree 7, float64: degree 13), and both gates are
written through it: sigmoid(v) = 1 / (2 + expm1(-v)), tanh(v) = e / (e + 2) with e = expm1(2v).

fastmath: contraction (FMA), reciprocal and signed-zero freedoms only, all rounding-level.
Not reassociation (it would undo the Cody-Waite split) and never nnan/ninf: NaN and inf
propagate as they do in torch. Arithmetic stays in the arrays' dtype (constants are cast).
"""

from __future__ import annotations

import numpy as np
from llvmlite import ir
from numba import carray, njit, types
from numba.core import cgutils
from numba.extending import intrinsic, overload

FASTMATH = {"contract", "nsz", "arcp"}
_OPTS = {"cache": True, "fastmath": FASTMATH, "error_model": "numpy", "nogil": True}
TILE = 4


# The register-blocked matrix-product micro-kernel of the recurrence, written in LLVM vectors.
#
# Legend:  R: rows of the tile (1-4)  K: contraction length (H)  PW: panel width (columns)
#
# Each recurrent step multiplies a few state rows (R, K) by W_hh^T (K, 3H). numba's loops keep their
# accumulators in memory (a load and a store per multiply-add), and LLVM cannot keep them in
# registers across the K loop because it cannot prove the arrays do not alias. This kernel is the
# BLAS-style inner block instead: R x V vector accumulators (vectors of 64 bytes: 16 float32 or
# 8 float64; two vectors make one panel of columns) stay in registers for the whole K loop; per k
# it loads V vectors of one weight row, broadcasts R state values and issues R * V fused
# multiply-adds. Measured alone on the development machine (AVX-512, one core, float32, products
# of 16-128 rows by W^T of H = 32-256): ~110 GFLOP/s, 1.4-3x numba's accumulate-in-memory loops.
# W is walked either row-major or packed in contiguous panels (`pack`).
#
# It is a numba `intrinsic`: it inlines into the numba kernels that call it, and the code LLVM
# gets is vector IR that it maps onto whatever the machine has (AVX-512, AVX2, NEON). Loads and
# stores are unaligned; the caller pads the weight rows and the accumulator rows to whole panels.
# (It lives in this file because numba's disk cache of a kernel is invalidated only by
# changes to the kernel's own source file.)
VECTOR_BYTES = 64
V = 2  # vectors per row of a 3- or 4-row tile: one panel


PANEL_BYTES = 2 * VECTOR_BYTES  # a panel of a packed W: two vectors (32 float32, 16 float64)


def lanes(itemsize: int) -> int:
    """Elements of one 64-byte vector."""
    return VECTOR_BYTES // itemsize


def _make(R: int, V: int = V):
    """The micro-kernel for tiles of R rows and V vectors per row (R * V accumulators)."""

    @intrinsic
    def panel_fma(typingctx, a, a_off, lda, w, w_off, ldw, ps, K, g, g_off, ldg):
        """g[g_off + i*ldg + c] += sum_{k<K} a[a_off + i*lda + k] * w[w_off + k*ldw + col(c)].

        For i < R and c < V * lanes, where col(c) = (c // 2L) * ps + c % 2L (L lanes: 2L columns
        make one panel): ps = 2L for a plain row-major W, K * 2L for W packed in panels of 2L
        columns (`pack`). a, w and g are 1-D contiguous arrays of one float dtype.
        """
        if not all(isinstance(x, types.Array) and x.ndim == 1 for x in (a, w, g)):
            return None
        dt = a.dtype
        if dt not in (types.float32, types.float64) or w.dtype != dt or g.dtype != dt:
            return None
        sig = types.void(a, a_off, lda, w, w_off, ldw, ps, K, g, g_off, ldg)

        def codegen(context, builder, signature, args):
            i64 = ir.IntType(64)
            nl = lanes(8 if dt == types.float64 else 4)
            fty = context.get_value_type(dt)
            vty = ir.VectorType(fty, nl)
            ptr = [
                context.make_array(signature.args[j])(context, builder, args[j]).data
                for j in (0, 3, 8)
            ]
            ap, wp, gp = ptr
            a_off, lda, w_off, ldw, ps, k_n, g_off, ldg = (
                context.cast(builder, args[j], signature.args[j], types.int64)
                for j in (1, 2, 4, 5, 6, 7, 9, 10)
            )

            def const(v):
                return ir.Constant(i64, v)

            def vec(base, idx):
                return builder.bitcast(builder.gep(base, [idx]), vty.as_pointer())

            sfx = f"v{nl}f{64 if dt == types.float64 else 32}"
            fma = cgutils.get_or_insert_function(
                builder.module, ir.FunctionType(vty, [vty, vty, vty]), "llvm.fma." + sfx
            )
            rows = [builder.add(g_off, builder.mul(ldg, const(i))) for i in range(R)]
            acc0 = [
                builder.load(vec(gp, builder.add(rows[i], const(v * nl))), align=1)
                for i in range(R)
                for v in range(V)
            ]
            entry = builder.block
            loop = builder.append_basic_block("panel.loop")
            done = builder.append_basic_block("panel.done")
            builder.cbranch(builder.icmp_signed(">", k_n, const(0)), loop, done)

            builder.position_at_end(loop)
            k = builder.phi(i64)
            k.add_incoming(const(0), entry)
            acc = []
            for x in acc0:
                phi = builder.phi(vty)
                phi.add_incoming(x, entry)
                acc.append(phi)
            wrow = builder.add(w_off, builder.mul(k, ldw))
            wcol = [  # vector v of the row: panel v // 2, half v % 2
                builder.add(builder.add(wrow, builder.mul(ps, const(v // 2))), const(v % 2 * nl))
                for v in range(V)
            ]
            ws = [builder.load(vec(wp, c), align=1) for c in wcol]
            zeros = ir.Constant(ir.VectorType(ir.IntType(32), nl), [0] * nl)
            new = []
            for i in range(R):
                ai = builder.load(
                    builder.gep(
                        ap, [builder.add(builder.add(a_off, builder.mul(lda, const(i))), k)]
                    )
                )
                splat = builder.insert_element(
                    ir.Constant(vty, ir.Undefined), ai, ir.Constant(ir.IntType(32), 0)
                )
                splat = builder.shuffle_vector(splat, ir.Constant(vty, ir.Undefined), zeros)
                new.extend(builder.call(fma, [splat, ws[v], acc[i * V + v]]) for v in range(V))
            k1 = builder.add(k, const(1))
            last = builder.block
            k.add_incoming(k1, last)
            for phi, x in zip(acc, new, strict=True):
                phi.add_incoming(x, last)
            builder.cbranch(builder.icmp_signed("<", k1, k_n), loop, done)

            builder.position_at_end(done)
            final = []
            for idx in range(R * V):  # all phis first: LLVM wants them at the top of the block
                phi = builder.phi(vty)
                phi.add_incoming(acc0[idx], entry)
                phi.add_incoming(new[idx], last)
                final.append(phi)
            for idx, x in enumerate(final):
                i, v = divmod(idx, V)
                builder.store(x, vec(gp, builder.add(rows[i], const(v * nl))), align=1)
            return context.get_dummy_value()

        return sig, codegen

    return panel_fma


# One or two rows need more vectors per row to keep enough multiply-adds in flight (an FMA's
# latency is ~4 cycles): 8 and 4 accumulators.
panel_fma1 = _make(1, 8)
panel_fma2 = _make(2, 4)
panel_fma1m = _make(1, 4)  # the narrower panels left over after the wide ones
panel_fma1n = _make(1)
panel_fma2n = _make(2)
panel_fma3 = _make(3)
panel_fma4 = _make(4)


@intrinsic
def _pow2(typingctx, n):
    """2.0**n for a float n holding an integer in the normal exponent range, same float type."""
    if n not in (types.float32, types.float64):
        return None

    def codegen(context, builder, sig, args):
        bits, bias, width = (32, 127, 23) if n == types.float32 else (64, 1023, 52)
        ity = ir.IntType(bits)
        i = builder.add(builder.fptosi(args[0], ity), ir.Constant(ity, bias))
        fty = ir.FloatType() if bits == 32 else ir.DoubleType()
        return builder.bitcast(builder.shl(i, ir.Constant(ity, width)), fty)

    return n(n), codegen


def _expm1(v):  # pragma: no cover - replaced by the overload below inside numba
    raise RuntimeError("_expm1 runs only inside numba-compiled code (see its overload).")


@overload(_expm1, fastmath=FASTMATH)
def _expm1_impl(v):
    """expm1(v) = exp(v) - 1 without cancellation; v clamped to the normal exponent range."""
    if v == types.float32:
        F = np.float32
        lo, hi, ln2hi, ln2lo = F(-87.0), F(87.0), F(0.693145751953125), F(1.428606820309417e-6)
        log2e, half = F(1.4426950408889634), F(0.5)
        c2, c3, c4, c5, c6, c7 = (F(1.0 / f) for f in (2, 6, 24, 120, 720, 5040))
        one = F(1.0)

        def impl32(v):
            v = hi if v > hi else (lo if v < lo else v)  # NaN passes through
            n = np.floor(v * log2e + half)
            r = (v - n * ln2hi) - n * ln2lo
            q = r + r * r * (c2 + r * (c3 + r * (c4 + r * (c5 + r * (c6 + r * c7)))))
            s = _pow2(n)
            return s * q + (s - one)

        return impl32
    if v == types.float64:
        F = np.float64
        lo, hi, log2e, half = F(-708.0), F(708.0), F(1.4426950408889634), F(0.5)
        ln2hi, ln2lo = F(6.93147180369123816490e-01), F(1.90821492927058770002e-10)
        c = [F(1.0 / np.prod(np.arange(1.0, k + 1))) for k in range(2, 14)]
        c2, c3, c4, c5, c6, c7, c8, c9, c10, c11, c12, c13 = c
        one = F(1.0)

        def impl64(v):
            v = hi if v > hi else (lo if v < lo else v)
            n = np.floor(v * log2e + half)
            r = (v - n * ln2hi) - n * ln2lo
            p = c9 + r * (c10 + r * (c11 + r * (c12 + r * c13)))
            p = c4 + r * (c5 + r * (c6 + r * (c7 + r * (c8 + r * p))))
            q = r + r * r * (c2 + r * (c3 + r * p))
            s = _pow2(n)
            return s * q + (s - one)

        return impl64
    return None


def _sigmoid(v):  # pragma: no cover - numba-only
    raise RuntimeError("_sigmoid runs only inside numba-compiled code (see its overload).")


def _tanh(v):  # pragma: no cover - numba-only
    raise RuntimeError("_tanh runs only inside numba-compiled code (see its overload).")


@overload(_sigmoid, fastmath=FASTMATH)
def _sigmoid_impl(v):
    if isinstance(v, types.Float):
        one, two = (np.float32(1), np.float32(2)) if v == types.float32 else (1.0, 2.0)
        return lambda v: one / (two + _expm1(-v))  # = 1 / (1 + exp(-v))
    return None


@overload(_tanh, fastmath=FASTMATH)
def _tanh_impl(v):
    if isinstance(v, types.Float):
        two = np.float32(2) if v == types.float32 else 2.0

        def impl(v):
            e = _expm1(v + v)
            return e / (e + two)

        return impl
    return None


@njit(**_OPTS)
def _mm_acc(a, nb, ka, w, k0, k1, c0, c1, g, gc):
    """g[i, gc + j - c0] += sum_{k in [k0, k1)} a[i, ka + k - k0] * w[k, j]  for i < nb, j in [c0, c1).

    Inner loops index 1-D row views from 0: numba's negative-index wraparound check then folds
    away and the loops vectorize.
    """
    K = k1 - k0
    K4 = K - K % 4
    N = c1 - c0
    if nb == 4:
        g0, g1, g2, g3 = g[0, gc : gc + N], g[1, gc : gc + N], g[2, gc : gc + N], g[3, gc : gc + N]
        for kk in range(0, K4, 4):
            k = k0 + kk
            p = ka + kk
            w0, w1, w2, w3 = w[k, c0:c1], w[k + 1, c0:c1], w[k + 2, c0:c1], w[k + 3, c0:c1]
            a00, a01, a02, a03 = a[0, p], a[0, p + 1], a[0, p + 2], a[0, p + 3]
            a10, a11, a12, a13 = a[1, p], a[1, p + 1], a[1, p + 2], a[1, p + 3]
            a20, a21, a22, a23 = a[2, p], a[2, p + 1], a[2, p + 2], a[2, p + 3]
            a30, a31, a32, a33 = a[3, p], a[3, p + 1], a[3, p + 2], a[3, p + 3]
            for j in range(N):
                x0, x1, x2, x3 = w0[j], w1[j], w2[j], w3[j]
                g0[j] += a00 * x0 + a01 * x1 + a02 * x2 + a03 * x3
                g1[j] += a10 * x0 + a11 * x1 + a12 * x2 + a13 * x3
                g2[j] += a20 * x0 + a21 * x1 + a22 * x2 + a23 * x3
                g3[j] += a30 * x0 + a31 * x1 + a32 * x2 + a33 * x3
        for kk in range(K4, K):
            w0 = w[k0 + kk, c0:c1]
            a0, a1, a2, a3 = a[0, ka + kk], a[1, ka + kk], a[2, ka + kk], a[3, ka + kk]
            for j in range(N):
                x0 = w0[j]
                g0[j] += a0 * x0
                g1[j] += a1 * x0
                g2[j] += a2 * x0
                g3[j] += a3 * x0
        return
    for i in range(nb):
        gr = g[i, gc : gc + N]
        for kk in range(0, K4, 4):
            k = k0 + kk
            p = ka + kk
            w0, w1, w2, w3 = w[k, c0:c1], w[k + 1, c0:c1], w[k + 2, c0:c1], w[k + 3, c0:c1]
            a0, a1, a2, a3 = a[i, p], a[i, p + 1], a[i, p + 2], a[i, p + 3]
            for j in range(N):
                gr[j] += a0 * w0[j] + a1 * w1[j] + a2 * w2[j] + a3 * w3[j]
        for kk in range(K4, K):
            w0 = w[k0 + kk, c0:c1]
            a0 = a[i, ka + kk]
            for j in range(N):
                gr[j] += a0 * w0[j]


@njit(cache=True, fastmath=FASTMATH | {"reassoc"}, error_model="numpy", nogil=True)
def _mm_dot(a, nb, w, r0, r1, g, gc):
    """g[i, gc + j - r0] += sum_k a[i, k] * w[j, k]  for i < nb, j in [r0, r1): W in its own layout.

    Dot products along contiguous rows of W: no transposed copy of W needed, which is what
    matters for calls with few steps. Reassociation (own flags, kept when LLVM inlines this)
    lets the reductions vectorize; it only reorders each sum.
    """
    K = w.shape[1]
    zero = a.dtype.type(0)
    if nb == 4:
        a0, a1, a2, a3 = a[0, :K], a[1, :K], a[2, :K], a[3, :K]
        for j in range(r0, r1):
            wr = w[j, :]
            s0, s1, s2, s3 = zero, zero, zero, zero
            for k in range(K):
                x = wr[k]
                s0 += a0[k] * x
                s1 += a1[k] * x
                s2 += a2[k] * x
                s3 += a3[k] * x
            o = gc + j - r0
            g[0, o] += s0
            g[1, o] += s1
            g[2, o] += s2
            g[3, o] += s3
        return
    for i in range(nb):
        ar = a[i, :K]
        for j in range(r0, r1):
            wr = w[j, :]
            s0 = zero
            for k in range(K):
                s0 += ar[k] * wr[k]
            g[i, gc + j - r0] += s0


@njit(**_OPTS)
def _gemm(nb, a, a1, ra, k0, k1, w, w1, packed, c0, c1, g, g1, rg):
    """g[rg + i, j] += sum_{k in [k0, k1)} a[ra + i, k] * W[k, j] for i < nb <= 4, j in [c0, c1).

    a (rows, Ka) and g (rows, N) C-contiguous with their flat views a1, g1. W is either w itself,
    row-major (Kw, N) (W_hh in the backward), or, when `packed`, W_hh^T packed in panels (`pack`:
    then k0 = 0, k1 = H, and c0, c1 are panel boundaries of the padded columns). The register-
    blocked micro-kernels (wide ones first for one or two rows, see `panel_fma1`) take whole
    panels; columns left over in a row-major W go through `_mm_acc`.
    """
    lda = a.shape[1]
    ldg = g.shape[1]
    K = k1 - k0
    ao = ra * lda + k0
    go = rg * ldg
    pw = PANEL_BYTES // a.itemsize
    # Column c of row k sits at k * ldw + (c // pw) * ps + c % pw: packed, panel after panel (k0 is
    # 0); row-major, ps = pw makes that k * ldw + c.
    ldw, ps = (pw, K * pw) if packed else (w.shape[1], pw)
    wo = k0 * ldw
    c = c0
    if nb == 1:
        while c + 4 * pw <= c1:
            o = wo + c // pw * ps + c % pw
            panel_fma1(a1, ao, lda, w1, o, ldw, ps, K, g1, go + c, ldg)
            c += 4 * pw
        if c + 2 * pw <= c1:
            o = wo + c // pw * ps + c % pw
            panel_fma1m(a1, ao, lda, w1, o, ldw, ps, K, g1, go + c, ldg)
            c += 2 * pw
    elif nb == 2:
        while c + 2 * pw <= c1:
            o = wo + c // pw * ps + c % pw
            panel_fma2(a1, ao, lda, w1, o, ldw, ps, K, g1, go + c, ldg)
            c += 2 * pw
    while c + pw <= c1:
        o = wo + c // pw * ps + c % pw
        if nb == 4:
            panel_fma4(a1, ao, lda, w1, o, ldw, ps, K, g1, go + c, ldg)
        elif nb == 3:
            panel_fma3(a1, ao, lda, w1, o, ldw, ps, K, g1, go + c, ldg)
        elif nb == 2:
            panel_fma2n(a1, ao, lda, w1, o, ldw, ps, K, g1, go + c, ldg)
        else:
            panel_fma1n(a1, ao, lda, w1, o, ldw, ps, K, g1, go + c, ldg)
        c += pw
    if c < c1:
        _mm_acc(a[ra : ra + nb], nb, k0, w, k0, k1, c, c1, g[rg : rg + nb], c)


def packed_shape(H: int, itemsize: int) -> tuple[int, int]:
    """Shape of W_hh (3H, H) packed by `pack`: (panels * H, panel width)."""
    pw = PANEL_BYTES // itemsize
    return ((-(-2 * H // pw) + -(-H // pw)) * H, pw)


@njit(**_OPTS)
def pack(w, out):
    """W_hh (3H, H) -> W_hh^T in panels, out of `packed_shape`: out[p * H + k, c] = W_hh^T[k,
    p * PW + c] for the r, z columns (panels 0 .. Prz-1) and W_hh^T[k, 2H + (p - Prz) * PW + c]
    for the n columns; zero where a panel runs past its block. Each panel is contiguous (H x PW),
    so the micro-kernel walks memory in order (with W_hh^T row-major, H = 256 spreads one step's
    reads over 192 pages and loses ~25% to TLB misses)."""
    G, H = w.shape
    pw = out.shape[1]
    H2 = 2 * H
    prz = -(-H2 // pw)
    out[:, :] = 0
    for c in range(G):
        p, cc = (c // pw, c % pw) if c < H2 else (prz + (c - H2) // pw, (c - H2) % pw)
        wr = w[c, :]
        base = p * H
        for k in range(H):
            out[base + k, cc] = wr[k]


@njit(**_OPTS)
def finite(a):
    """Whether every element of the 1-D float array `a` is finite: |x| < inf is false for an
    infinite or NaN x (IEEE compares: FASTMATH has no "nnan"/"ninf"). One vectorized pass, no
    early exit. (x - x summed, 0 or NaN, does not work: LLVM folds x - x to 0 here.)"""
    inf = a.dtype.type(np.inf)
    bad = 0
    for j in range(a.size):
        if not abs(a[j]) < inf:
            bad += 1
    return bad == 0


# A skipped first-step product must pay for `finite`'s pass over W_hh. With W_hh in L1 (a core has
# 32 KB of it on the machines measured) the pass is quick and a one-row product latency-bound:
# the skip pays from one row (GRU(50), one step: 6.1 against 6.5 us a call). Larger, both stream
# W_hh from L2 at about one speed: one row gains nothing (H = 128 8.9 against 8.4 us, H = 256
# 20.1 against 17.3: the pass costs more than the 4-row dot products it saves), more rows do.
L1_BYTES = 32 * 1024


@njit(**_OPTS)
def skip_pays(rows, w):
    """Whether `rows` rows starting from a zero state should skip their first product with W_hh
    (at the price of `finite(W_hh)`), see `L1_BYTES`."""
    return rows > 1 or w.size * w.itemsize <= L1_BYTES


@njit(**_OPTS)
def zero_rows(a, nb, c0=0):
    """Whether rows [0, nb) of the 2-D array `a`, from column c0 on, are all zero (a zero
    state: its recurrent product is b_hh alone)."""
    for i in range(nb):
        for v in a[i, c0:]:
            if v != 0:
                return False
    return True


@njit(**_OPTS)
def same(a, b):
    """Whether two 1-D integer arrays (float bits) of one length are equal. On the bits, a NaN
    weight equals itself (it did not change). One vectorized pass, no early exit (a loop with
    one is not vectorized here: 10x slower)."""
    d = a.dtype.type(0)
    for j in range(a.size):
        d |= a[j] ^ b[j]
    return d == 0


@njit(**_OPTS)
def fwd_rows(
    b0, b1, gi, h0, w, transposed, b_hh, out, h_n, saved, reset_after, reverse, training, mask,
    w_known,
):  # fmt: skip
    """Recurrence for batch rows [b0, b1).

    gi (T, B, 3H): input projections incl. b_ih.  h0 (B, H).  w: W_hh (3H, H), or, when
    `transposed`, W_hh^T packed in panels (`pack`): then the recurrent product goes through
    `_gemm`'s register-blocked micro-kernel (1.5-3x faster per step; the packed copy pays off over
    several rows or steps), else as dot products along W_hh's rows (`_mm_dot`).  b_hh (3H,).
    Writes out (T, B, H), h_n (B, H) and, when `training`, saved (T, B, 5H).
    mask (T, B) bool, or (0, 0) for none: where mask[t, b] is False the row keeps its state
    (h_t = h_{t-1}, out[t] = h_{t-1}); saved is still written (backward ignores it there).
    Every loop writes a buffer of its own (gates, candidate, state): a loop that writes one part
    of an array while reading another part of it does not vectorize here (measured 10x slower).
    A tile of rows starting from a zero state skips its first step's recurrent product (W_hh 0 is
    0: the pre-activations are b_hh; half the work of a one-step call) where that pays
    (`skip_pays`) and W_hh holds no infinite or NaN weight (whose product with 0 is NaN).
    w_known: whether W_hh is all finite when the caller knows (1 or 0: `refresh` keeps it per
    module), else -1 (then it is checked here, once, where a skip pays for the pass).
    """
    T = gi.shape[0]
    H = h0.shape[1]
    H2 = 2 * H
    H3 = 3 * H
    dt = gi.dtype
    pw = PANEL_BYTES // gi.itemsize  # columns of a panel (see `pack`)
    # Columns of acc: r, z in [0, 2H), n in [cn, cn + H); packed, each block is padded to panels.
    cn, width = (-(-H2 // pw) * pw, w.size // H) if transposed else (H2, H3)
    acc = np.zeros((TILE, width), dt)  # recurrent pre-activations (b_hh included)
    hp = np.empty((TILE, H), dt)  # state of the tile's rows
    rz = np.empty((TILE, H2), dt)  # gates r, z
    nn = np.empty((TILE, H), dt)  # candidate n
    q = np.empty((TILE, H), dt)  # r * h_prev (reset_after=False)
    acc1, hp1, q1, w1 = acc.reshape(-1), hp.reshape(-1), q.reshape(-1), w.reshape(-1)
    ncols = width if reset_after else cn
    masked = mask.shape[0] > 0
    w_finite = w_known  # whether every weight of W_hh is finite (-1: not checked yet)
    for s in range(b0, b1, TILE):
        nb = min(TILE, b1 - s)
        for i in range(nb):
            hr, h0r = hp[i, :], h0[s + i, :]
            for j in range(H):
                hr[j] = h0r[j]
        zero_start = (w_finite >= 0 or skip_pays(nb, w)) and zero_rows(hp, nb)
        if zero_start and w_finite < 0:
            w_finite = 1 if finite(w1) else 0
        zero_start = zero_start and w_finite == 1
        for step in range(T):
            t = T - 1 - step if reverse else step
            product = step > 0 or not zero_start  # W_hh h_prev is 0 at a zero start
            for i in range(nb):
                ar, an = acc[i, :H2], acc[i, cn : cn + H]
                for j in range(H2):
                    ar[j] = b_hh[j]
                for j in range(H):
                    an[j] = b_hh[H2 + j]
            if product and transposed:
                _gemm(nb, hp, hp1, 0, 0, H, w, w1, True, 0, ncols, acc, acc1, 0)
            elif product:
                _mm_dot(hp, nb, w, 0, ncols, acc, 0)
            for i in range(nb):
                ar, gir, rzr = acc[i, :H2], gi[t, s + i, :H2], rz[i, :]
                for j in range(H2):
                    rzr[j] = _sigmoid(gir[j] + ar[j])
            if not reset_after:
                for i in range(nb):
                    rr, hr, qr = rz[i, :H], hp[i, :], q[i, :]
                    for j in range(H):
                        qr[j] = rr[j] * hr[j]
                if product and transposed:
                    _gemm(nb, q, q1, 0, 0, H, w, w1, True, cn, width, acc, acc1, 0)
                elif product:
                    _mm_dot(q, nb, w, H2, H3, acc, H2)
            for i in range(nb):
                b = s + i
                r_, z_, a_, hr, nr = rz[i, :H], rz[i, H:], acc[i, cn : cn + H], hp[i, :], nn[i, :]
                gin, o = gi[t, b, H2:H3], out[t, b, :]
                if training:
                    sv = saved[t, b, :]
                    sv[:H2] = rz[i, :]
                    sv[3 * H : 4 * H] = a_ if reset_after else q[i, :]
                    sv[4 * H :] = hr
                if masked and not mask[t, b]:  # carry the state: h_t = h_{t-1}
                    o[:] = hr
                    if training:
                        saved[t, b, H2:H3] = hr
                    continue
                if reset_after:
                    for j in range(H):
                        nr[j] = _tanh(gin[j] + r_[j] * a_[j])
                else:
                    for j in range(H):
                        nr[j] = _tanh(gin[j] + a_[j])
                for j in range(H):
                    n = nr[j]
                    hr[j] = n + z_[j] * (hr[j] - n)  # = z * h_prev + (1 - z) * n
                for j in range(H):
                    o[j] = hr[j]
                if training:
                    saved[t, b, H2:H3] = nr
        for i in range(nb):
            h_n[s + i, :] = hp[i, :]


@njit(**_OPTS)
def bwd_rows(b0, b1, saved, w, dout, dh, d_gi, d_gh, reset_after, reverse, mask, need_dh0):
    """BPTT for batch rows [b0, b1).

    saved (T, B, 5H) from the forward.  w (3H, H): W_hh.  dout (T, B, H): gradient of out.
    dh (B, H): on entry the gradient of h_n, on exit the gradient of h0 when `need_dh0` (else
    not: the last step's product with W_hh, which only carries it on to h0, is skipped).
    Writes d_gi (T, B, 3H): gradient of the input projections (= of b_ih), and, for
    reset_after=True, d_gh (T, B, 3H): gradient of W_hh h_prev + b_hh (for reset_after=False
    that equals d_gi, which then serves for both).  mask as in `fwd_rows`: where a row kept
    its state, the gradient passes straight through to h_{t-1} and the step's d_gi, d_gh are 0.
    """
    T = saved.shape[0]
    H = dh.shape[1]
    H2 = 2 * H
    H3 = 3 * H
    dg = np.empty((TILE, H3), saved.dtype)  # gradient of the recurrent pre-activations
    acc = np.empty((TILE, H), saved.dtype)  # gradient of h_prev
    drh = np.empty((TILE, H), saved.dtype)  # gradient of r * h_prev (reset_after=False)
    dg1, acc1, drh1, w1 = dg.reshape(-1), acc.reshape(-1), drh.reshape(-1), w.reshape(-1)
    one = saved.dtype.type(1)
    masked = mask.shape[0] > 0
    for s in range(b0, b1, TILE):
        nb = min(TILE, b1 - s)
        for i in range(nb):
            acc[i, :] = dh[s + i, :]
        for step in range(T):
            t = step if reverse else T - 1 - step
            for i in range(nb):
                b = s + i
                sv, do, ac = saved[t, b, :], dout[t, b, :], acc[i, :]
                r_, z_, n_, a_, hp_ = sv[:H], sv[H:H2], sv[H2:H3], sv[H3 : 4 * H], sv[4 * H :]
                dr_, dz_, dn_, dgin = dg[i, :H], dg[i, H:H2], dg[i, H2:H3], d_gi[t, b, H2:H3]
                if masked and not mask[t, b]:  # the state was carried: d h_{t-1} = d h_t
                    for j in range(H):
                        ac[j] += do[j]
                    dg[i, :] = 0
                    dgin[:] = 0
                    continue
                for j in range(H):
                    d = ac[j] + do[j]
                    r, z, n = r_[j], z_[j], n_[j]
                    dnp = d * (one - z) * (one - n * n)
                    dz_[j] = d * (hp_[j] - n) * z * (one - z)
                    ac[j] = d * z
                    if reset_after:
                        dr_[j] = dnp * a_[j] * r * (one - r)
                        dn_[j] = dnp * r
                        dgin[j] = dnp
                    else:
                        dn_[j] = dnp
            carry = need_dh0 or step < T - 1  # d h_prev is wanted
            if reset_after:
                for i in range(nb):
                    b = s + i
                    d_gi[t, b, :H2] = dg[i, :H2]
                    d_gh[t, b, :] = dg[i, :]
                if carry:
                    _gemm(nb, dg, dg1, 0, 0, H3, w, w1, False, 0, H, acc, acc1, 0)
            else:
                for i in range(nb):
                    drh[i, :] = 0
                _gemm(nb, dg, dg1, 0, H2, H3, w, w1, False, 0, H, drh, drh1, 0)
                for i in range(nb):
                    b = s + i
                    r_, hp_ = saved[t, b, :H], saved[t, b, 4 * H :]
                    dr_, ac, dq = dg[i, :H], acc[i, :], drh[i, :]
                    for j in range(H):
                        r = r_[j]
                        dr_[j] = dq[j] * hp_[j] * r * (one - r)
                        ac[j] += dq[j] * r
                    d_gi[t, b, :] = dg[i, :]
                if carry:
                    _gemm(nb, dg, dg1, 0, 0, H2, w, w1, False, 0, H, acc, acc1, 0)
        for i in range(nb):
            dh[s + i, :] = acc[i, :]


@njit(**_OPTS)
def _project(x2, w_t, b, g2, c0, c1):
    """g2[:, c0:c1] = b[c0:c1] + x2 (n, I) @ w_t[:, c0:c1] (w_t: I x 3H), by tiles of rows through
    `_gemm` (`split_kernels` projects one part's columns at a time)."""
    n, I = x2.shape  # noqa: E741
    br = b[c0:c1]
    for r in range(n):
        gr = g2[r, c0:c1]
        for j in range(c1 - c0):
            gr[j] = br[j]
    x1, g1, wt1 = x2.reshape(-1), g2.reshape(-1), w_t.reshape(-1)
    for r0 in range(0, n, TILE):
        _gemm(min(TILE, n - r0), x2, x1, r0, 0, I, w_t, wt1, False, c0, c1, g2, g1, r0)


@njit(**_OPTS)
def infer_mid(x, w_t, b_ih, h0, w, b_hh, out, h_n, reset_after, reverse, w_known):
    """Inference for a few dozen rows (T * B) in one call: x (T, B, I) contiguous, w_t: W_ih^T
    (I, 3H) and w: W_hh packed (`pack`), both made once by the caller; the rest as in
    `fwd_rows`. The projection by tiles of rows, then the recurrence."""
    T, B, I = x.shape  # noqa: E741
    H3 = w_t.shape[1]
    n = T * B
    gi = np.empty((T, B, H3), x.dtype)
    _project(x.reshape((n, I)), w_t, b_ih, gi.reshape((n, H3)), 0, H3)
    fwd_rows(
        0, B, gi, h0, w, True, b_hh, out, h_n, out, reset_after, reverse, False,
        np.empty((0, 0), np.bool_), w_known,
    )  # fmt: skip


@njit(**_OPTS)
def fwd_small(
    x, w_ih, b_ih, h0, w, transposed, b_hh, out, h_n, saved, reset_after, reverse, training, mask
):
    """Input projection and `fwd_rows` in one call, for a handful of rows (T * B).

    x (T, B, I) contiguous, w_ih (3H, I), b_ih (3H,); the rest as in `fwd_rows`. The projection
    is the same single product over all steps that torch does for larger calls (one GEMM); for
    a few rows a torch call costs more than the arithmetic.
    """
    T, B, I = x.shape  # noqa: E741
    H3 = w_ih.shape[0]
    n = T * B
    gi = np.empty((T, B, H3), x.dtype)
    g2 = gi.reshape((n, H3))
    for r in range(n):
        g2[r, :] = b_ih
    _mm_dot(x.reshape((n, I)), n, w_ih, 0, H3, g2, 0)  # dot products along W_ih's rows
    fwd_rows(
        0, B, gi, h0, w, transposed, b_hh, out, h_n, saved, reset_after, reverse, training, mask,
        -1,
    )  # fmt: skip


@njit(**_OPTS)
def bwd_small(
    saved,
    w,
    dout,
    dh,
    d_gi,
    d_gh,
    reset_after,
    reverse,
    mask,
    x,
    w_ih,
    dx,
    dw_ih,
    dw_hh,
    db_ih,
    db_hh,
    need_dh0,
):
    """`bwd_rows` over all rows, then every parameter gradient, in one call for tiny T * B.

    The same sums over all T * B rows that torch computes with one GEMM each for larger calls
    (dW_ih = d_gi^T x, dW_hh = d_gh^T h_prev, biases, dx = d_gi W_ih); for a handful of rows,
    five torch calls cost more than the arithmetic. x (T, B, I) contiguous; outputs are written.
    A row whose h_prev is zero adds nothing to dW_hh (skipped, unless its d_gh holds an infinite
    or NaN value, whose product with 0 is NaN).
    """
    T, B, H5 = saved.shape
    H = H5 // 5
    H2 = 2 * H
    I = x.shape[2]  # noqa: E741
    bwd_rows(0, B, saved, w, dout, dh, d_gi, d_gh, reset_after, reverse, mask, need_dh0)
    dw_ih[:, :] = 0
    dw_hh[:, :] = 0
    db_ih[:] = 0
    db_hh[:] = 0
    for t in range(T):
        for b in range(B):
            g_i, g_h, xr = d_gi[t, b, :], d_gh[t, b, :], x[t, b, :]
            hp, rh, dxr = saved[t, b, 4 * H :], saved[t, b, 3 * H : 4 * H], dx[t, b, :]
            dxr[:] = 0
            for j in range(3 * H):
                gij, ghj = g_i[j], g_h[j]
                db_ih[j] += gij
                db_hh[j] += ghj
                wi, wr = dw_ih[j, :], w_ih[j, :]
                for k in range(I):
                    wi[k] += gij * xr[k]
                    dxr[k] += gij * wr[k]
            if zero_rows(saved[t, b:], 1, 4 * H) and finite(g_h):
                continue  # h_prev = 0 (and r * h_prev = 0): no dW_hh terms
            for j in range(3 * H):
                ghj = g_h[j]
                src = hp if (reset_after or j < H2) else rh
                wh = dw_hh[j, :]
                for k in range(H):
                    wh[k] += ghj * src[k]


# Bound inference calls: arrays passed as addresses.
#
# numba's dispatcher checks the type of every argument of every call, ~0.1-0.2 us per array: for
# a call of a few dozen rows, half the time of the arithmetic. `bound_call` takes the addresses
# of a module's arrays in one int64 table made once per module (`infer.Plan`) and rebuilds the
# arrays inside numba (`carray`). The caller owns every address: it keeps the memory alive while
# a table holds it and checks shapes, dtypes and contiguity before a call.


@intrinsic
def addr_ptr(typingctx, addr, zero):
    """The int `addr` as a pointer to elements of `zero`'s type (a float or an integer)."""
    if not isinstance(addr, types.Integer) or not isinstance(zero, (types.Float, types.Integer)):
        return None
    ptr = types.CPointer(zero)

    def codegen(context, builder, sig, args):
        return builder.inttoptr(args[0], context.get_value_type(ptr))

    return ptr(addr, zero), codegen


@njit(**_OPTS)
def at1(addr, n, zero):
    return carray(addr_ptr(addr, zero), (n,))


@njit(**_OPTS)
def at2(addr, n, m, zero):
    return carray(addr_ptr(addr, zero), (n, m))


@njit(**_OPTS)
def at3(addr, n, m, k, zero):
    return carray(addr_ptr(addr, zero), (n, m, k))


def _bits_at(addr, n, zero):  # pragma: no cover - replaced by the overload below inside numba
    raise RuntimeError("_bits_at runs only inside numba-compiled code (see its overload).")


# (With a keyword, as the other overloads: benchmarks/gpu_check_stubs' stand-in numba then sees
# no plain decorator call.)
@overload(_bits_at, fastmath=FASTMATH)
def _bits_at_impl(addr, n, zero):
    """The n floats at `addr` (of `zero`'s type) as unsigned integers of the same width."""
    kind = np.uint32 if zero.bitwidth == 32 else np.uint64
    return lambda addr, n, zero: carray(addr_ptr(addr, kind(0)), (n,))


# A module's table (`infer.Plan`, read by `bound_call` and `stream_kernels.module_call`): a header,
# then per layer and direction `BOUND_ROW` addresses.
BOUND_HEAD = 7  # I, H, L, D, reset_after, rows of packed W_hh, panel width
BOUND_ROW = (
    8  # W_ih, W_hh, b_ih, b_hh, W_ih^T, packed W_hh, bits of the W_ih and W_hh they came from
)
# After the L * D rows, one flag per layer and direction: 1 when the W_hh the packed copy was made
# from is all finite, else 0 (`refresh` keeps it; `fwd_rows`' zero start then needs no pass over
# W_hh). After the rows, not in them: `stream_kernels` reads the rows, and its disk cache keeps
# BOUND_ROW from when it was compiled.


@njit(**_OPTS)
def finite_flag(L, D, k):
    """Where a module's table keeps the finiteness flag of layer/direction k (after its rows)."""
    return BOUND_HEAD + BOUND_ROW * L * D + k


@njit(**_OPTS)
def bound_size(L, D):
    """Length of a module's table (`BOUND_HEAD`, `BOUND_ROW`, the finiteness flags)."""
    return finite_flag(L, D, L * D)


@njit(**_OPTS)
def refresh(tab, k, Iin, zero):
    """Make W_ih^T and the packed W_hh of layer/direction `k` again if the weights' bits
    changed since they were made (in-place edits through `.data` or numpy views included, which
    torch's version counter misses); a vectorized compare of the bits, ~0.15 ns a weight. The
    caller made them once before (`infer.Plan`). Returns (W_ih^T, packed W_hh, b_ih, b_hh,
    whether W_hh is all finite: 1 or 0)."""
    H, P, pw = tab[1], tab[5], tab[6]
    G = 3 * H
    o = BOUND_HEAD + BOUND_ROW * k
    w_ih, w_hh = at2(tab[o], G, Iin, zero), at2(tab[o + 1], G, H, zero)
    w_t, wp = at2(tab[o + 4], Iin, G, zero), at2(tab[o + 5], P, pw, zero)
    b_ih, b_hh = at1(tab[o + 2], G, zero), at1(tab[o + 3], G, zero)
    now, was = _bits_at(tab[o], G * Iin, zero), _bits_at(tab[o + 6], G * Iin, zero)
    if not same(now, was):
        was[:] = now
        for j in range(G):
            for i in range(Iin):
                w_t[i, j] = w_ih[j, i]
    now, was = _bits_at(tab[o + 1], G * H, zero), _bits_at(tab[o + 7], G * H, zero)
    flag = finite_flag(tab[2], tab[3], k)
    if not same(now, was):
        was[:] = now
        pack(w_hh, wp)
        tab[flag] = 1 if finite(w_hh.reshape(-1)) else 0
    return w_t, wp, b_ih, b_hh, tab[flag]


@njit(**_OPTS)
def refresh_call(tab, k, Iin, zero):
    """`refresh` alone (the GEMM path of `infer` projects in torch and then runs `fwd_rows`);
    returns whether W_hh is all finite (1 or 0)."""
    return refresh(tab, k, Iin, zero)[4]


@njit(**_OPTS)
def bound_call(tab_ptr, x_ptr, h0_ptr, out, h_n, batch_first):
    """A whole `grunet.nn.GRU` inference call of a few dozen rows (T * B) in one call.

    tab_ptr: the module's table (`BOUND_HEAD`, `BOUND_ROW`); x ((B, T, I) when `batch_first`,
    else (T, B, I)) and h0 (L*D, B, H; 0: zeros) by address, contiguous; out ((B, T, D*H) or
    (T, B, D*H)) and h_n (L*D, B, H) arrays. Per layer and direction: `refresh`, then
    `infer_mid` (the projection by tiles of rows, then the recurrence on the packed W_hh).
    """
    zero = out.dtype.type(0)
    dt = out.dtype
    head = at1(tab_ptr, BOUND_HEAD, np.int64(0))
    I, H, L, D, ra = head[0], head[1], head[2], head[3], head[4] != 0  # noqa: E741
    tab = at1(tab_ptr, bound_size(L, D), np.int64(0))
    B, T = (out.shape[0], out.shape[1]) if batch_first else (out.shape[1], out.shape[0])
    h0 = np.zeros((L * D, B, H), dt) if h0_ptr == 0 else at3(h0_ptr, L * D, B, H, zero)
    x = time_major(x_ptr, B, T, I, batch_first, zero)
    # Straight into `out` when its memory order is time-major: (B, T, .) is (T, B, .) when
    # B = 1 or T = 1.
    direct = L == 1 and D == 1 and not (batch_first and B > 1 and T > 1)
    Iin = I
    for layer in range(L):
        y = out.reshape((T, B, H)) if direct else np.empty((T, B, D * H), dt)
        o = y if direct else np.empty((T, B, H), dt)
        for d in range(D):  # one call site: the recurrence is compiled (and inlined) once
            k = layer * D + d
            w_t, wp, b_ih, b_hh, w_known = refresh(tab, k, Iin, zero)
            infer_mid(x, w_t, b_ih, h0[k], wp, b_hh, o, h_n[k], ra, d == 1, w_known)
            if not direct:
                y[:, :, d * H : (d + 1) * H] = o
        x = y
        Iin = D * H
    if not direct:
        write_out(x, out, batch_first)


@njit(**_OPTS)
def time_major(x_ptr, B, T, I, batch_first, zero):  # noqa: E741
    """The input at x_ptr ((B, T, I) when `batch_first`, else (T, B, I)) as (T, B, I): the
    memory itself, or a copy when the two orders differ (batch_first with B > 1 and T > 1)."""
    if batch_first and B > 1 and T > 1:
        xb = at3(x_ptr, B, T, I, zero)
        x = np.empty((T, B, I), xb.dtype)
        for b in range(B):
            for t in range(T):
                x[t, b, :] = xb[b, t, :]
        return x
    return at3(x_ptr, T, B, I, zero)


@njit(**_OPTS)
def write_out(y, out, batch_first):
    """out = y (T, B, F), or its (B, T, F) order when `batch_first`."""
    if batch_first:
        T, B = y.shape[0], y.shape[1]
        for b in range(B):
            for t in range(T):
                out[b, t, :] = y[t, b, :]
    else:
        out[:, :, :] = y
