"""A register-blocked matrix-product micro-kernel for the recurrence, written in LLVM vectors.

Legend:  R: rows of the tile (1-4)  K: contraction length (H)  PW: panel width (columns)

Each recurrent step multiplies a few state rows (R, K) by W_hh^T (K, 3H). numba's loops keep their
accumulators in memory (a load and a store per multiply-add), and LLVM cannot keep them in
registers across the K loop because it cannot prove the arrays do not alias. This kernel is the
BLAS-style inner block instead: R x V vector accumulators (V vectors of 64 bytes: PW = 16 float32
or 8 float64 columns per vector) stay in registers for the whole K loop; per k it loads V vectors
of one weight row, broadcasts R state values and issues R * V fused multiply-adds. On the
development machine (AVX-512, one core) it runs at ~110 GFLOP/s in float32, 1.4-3x numba's
accumulate-in-memory loops (measured with `benchmarks/bench_cpu.py`; see BENCHMARKS.md).

It is a numba `intrinsic`: it inlines into the numba kernels that call it, and the code LLVM
gets is vector IR that it maps onto whatever the machine has (AVX-512, AVX2, NEON). Loads and
stores are unaligned; the caller pads the weight rows and the accumulator rows to whole panels.
"""

from __future__ import annotations

from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

VECTOR_BYTES = 64
V = 2  # vectors per row of a 3- or 4-row tile: a panel is V * 64 bytes wide


def lanes(itemsize: int) -> int:
    """Elements of one 64-byte vector."""
    return VECTOR_BYTES // itemsize


def panel(itemsize: int, rows: int = 4) -> int:
    """Columns one micro-kernel call covers: (8, 4, 2, 2) vectors for tiles of (1, 2, 3, 4) rows."""
    return (8, 4, 2, 2)[rows - 1] * lanes(itemsize)


def _make(R: int, V: int = V):
    """The micro-kernel for tiles of R rows and V vectors per row (R * V accumulators)."""

    @intrinsic
    def panel_fma(typingctx, a, a_off, lda, w, w_off, ldw, K, g, g_off, ldg):
        """g[g_off + i*ldg + c] += sum_{k<K} a[a_off + i*lda + k] * w[w_off + k*ldw + c].

        For i < R and c < PW; a, w and g are 1-D contiguous arrays of one float dtype.
        """
        if not all(isinstance(x, types.Array) and x.ndim == 1 for x in (a, w, g)):
            return None
        dt = a.dtype
        if dt not in (types.float32, types.float64) or w.dtype != dt or g.dtype != dt:
            return None
        sig = types.void(a, a_off, lda, w, w_off, ldw, K, g, g_off, ldg)

        def codegen(context, builder, signature, args):
            i64 = ir.IntType(64)
            nl = lanes(8 if dt == types.float64 else 4)
            fty = context.get_value_type(dt)
            vty = ir.VectorType(fty, nl)
            ptr = [
                context.make_array(signature.args[j])(context, builder, args[j]).data
                for j in (0, 3, 7)
            ]
            ap, wp, gp = ptr
            a_off, lda, w_off, ldw, k_n, g_off, ldg = (
                context.cast(builder, args[j], signature.args[j], types.int64)
                for j in (1, 2, 4, 5, 6, 8, 9)
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
            ws = [
                builder.load(vec(wp, builder.add(wrow, const(v * nl))), align=1) for v in range(V)
            ]
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
