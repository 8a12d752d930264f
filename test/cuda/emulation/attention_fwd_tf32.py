"""Warp-level emulation of AttentionForwardTf32Kernel (v2) in kernels/cuda/attention_fwd_tf32.cu.

Each warp of a block is a Python generator that runs the kernel body with its 32 lanes as numpy
vectors and yields at every __syncthreads; a block runs its warps one after another inside each
barrier phase (in a shuffled order), so the per-thread prefetch registers `pre` carry exactly the
tile the kernel leaves in them. The index arithmetic is transcribed line by line from the kernel:
Tf32Config pitches, FetchRows (float4 and scalar paths), StoreTf32Quad, the Q/K/V fragment loads,
mma.sync m16n8k8 (PTX fragment layouts), the {c0, c2, c1, c3} accumulator reorder, the base-2
online softmax with the warp-level rescale skip, the mask rule of attention_mask.cuh and the
output / lse stores.

Checks made along the way:
- shared memory: float4 alignment, accesses stay inside their region (Q, K or V) and away from the
  pitch padding, no read of a never-written word, and barrier races between warps (a word written
  by one warp and read or written by another in the same barrier phase);
- global memory: every load lies inside the tensor's logical elements and never touches a padded
  key (those rows hold NaN); every output / lse element is written exactly once and nothing else;
- every mma operand is a TF32 bit pattern (low 13 bits zero);
- barriers are reached uniformly by the four warps;
- the result does not depend on the warp order within a phase.
out and lse are compared with a float64 reference built from TF32-rounded q, k, v.

Run: python3 test/cuda/emulation/attention_fwd_tf32.py [--quick] [--no-neg]
"""
import math
import sys

import numpy as np

np.seterr(all='ignore')
f32 = np.float32
INF = f32(np.inf)
kRows, kWarps, kThreads = 64, 4, 128
kLog2e = f32(1.4426950408889634)
kLn2 = f32(0.6931471805599453)

MUT = set()  # negative controls: names of deliberate perturbations of the transcription


class EmuError(AssertionError):
    pass


def check(cond, msg):
    if not cond:
        raise EmuError(msg)


# ---------------------------------------------------------------------------------------------
# Numeric primitives


def tf32(x):
    """cvt.rna.tf32.f32: round to nearest, ties away from zero, keep 10 mantissa bits."""
    x = np.asarray(x, f32)
    b = x.view(np.uint32).astype(np.uint64)
    r = ((b + 0x1000) & 0xFFFFE000).astype(np.uint32).view(f32)
    return np.where(np.isnan(x), x, r).astype(f32)


def is_tf32(x):
    x = np.asarray(x, f32)
    return bool(np.all(((x.view(np.uint32) & 0x1FFF) == 0) | np.isnan(x)))


def exp2a(x):
    """ex2.approx.ftz.f32 (exact exp2 in float32, denormal inputs and results flushed)."""
    x = np.asarray(x, f32)
    x = np.where(np.abs(x) < f32(2.0 ** -126), f32(0), x)
    y = np.exp2(x).astype(f32)
    return np.where(np.abs(y) < f32(2.0 ** -126), f32(0), y).astype(f32)


def fmaf(a, b, c):
    return (np.asarray(a, np.float64) * np.asarray(b, np.float64) + np.asarray(c, np.float64)).astype(f32)


def mma(c, a, b0, b1):
    """mma.sync.m16n8k8.row.col.f32.tf32.tf32.f32, lanes as rows of the (32, .) arrays.
    A a0 (g, t) a1 (g+8, t) a2 (g, t+4) a3 (g+8, t+4); B b0 (k=t, n=g) b1 (k=t+4, n=g);
    C c0 (g, 2t) c1 (g, 2t+1) c2 (g+8, 2t) c3 (g+8, 2t+1)."""
    check(is_tf32(a) and is_tf32(b0) and is_tf32(b1), 'mma operand is not a TF32 bit pattern')
    lane = np.arange(32)
    g, t = lane // 4, lane % 4
    A = np.full((16, 8), np.nan)
    B = np.full((8, 8), np.nan)
    C = np.full((16, 8), np.nan)
    A[g, t] = a[:, 0]; A[g + 8, t] = a[:, 1]; A[g, t + 4] = a[:, 2]; A[g + 8, t + 4] = a[:, 3]
    B[t, g] = b0; B[t + 4, g] = b1
    C[g, 2 * t] = c[:, 0]; C[g, 2 * t + 1] = c[:, 1]; C[g + 8, 2 * t] = c[:, 2]; C[g + 8, 2 * t + 1] = c[:, 3]
    D = (A @ B + C).astype(f32)
    return np.stack([D[g, 2 * t], D[g, 2 * t + 1], D[g + 8, 2 * t], D[g + 8, 2 * t + 1]], axis=1)


def shfl_xor(x, m):
    return x[np.arange(32) ^ m]


# ---------------------------------------------------------------------------------------------
# Memory


class GBuf:
    """A global buffer: data, which elements belong to the tensor (legal to read), write counts."""

    def __init__(self, size):
        self.a = np.full(size, np.nan, f32)
        self.legal = np.zeros(size, bool)
        self.writes = np.zeros(size, np.int32)
        self.bad_reads = 0


class Ptr:
    def __init__(self, buf, off):
        self.buf, self.off = buf, off

    def __add__(self, n):
        return Ptr(self.buf, self.off + int(n))


def aligned16(ptr):
    return ptr.off % 4 == 0  # buffers start 256-byte aligned; off counts floats


def gload(ptr, idx, n):
    """__ldg of n floats (n = 4: one 16-byte load) at element offsets idx (1-D) from ptr."""
    a = ptr.off + np.asarray(idx, np.int64)
    if n == 4:
        check(np.all(a % 4 == 0), 'misaligned float4 global load')
    ii = a[:, None] + np.arange(n)
    check(np.all((ii >= 0) & (ii < ptr.buf.a.size)), 'global load out of the allocation')
    ptr.buf.bad_reads += int((~ptr.buf.legal[ii]).sum())
    return ptr.buf.a[ii]


def gstore(ptr, idx, vals, n):
    a = ptr.off + np.asarray(idx, np.int64)
    if n == 4:
        check(np.all(a % 4 == 0), 'misaligned float4 global store')
    ii = (a[:, None] + np.arange(n)).ravel()
    check(np.all((ii >= 0) & (ii < ptr.buf.a.size)), 'global store out of the allocation')
    ptr.buf.a[ii] = np.asarray(vals, f32).ravel()
    np.add.at(ptr.buf.writes, ii, 1)


class Smem:
    def __init__(self, C):
        self.C = C
        total = C.kQ + C.kK + C.kV
        self.a = np.full(total, np.nan, f32)
        self.written = np.zeros(total, bool)
        self.wphase = np.full(total, -1)
        self.wwarp = np.full(total, -1)
        self.rphase = np.full((kWarps, total), -1)
        self.phase = 0
        self.races = []
        self.regions = {'q': (0, C.kQ, C.kQPitch), 'k': (C.kQ, C.kK, C.kKPitch), 'v': (C.kQ + C.kK, C.kV, C.kVPitch)}

    def _chk(self, region, idx):
        base, size, pitch = self.regions[region]
        rel = idx - base
        check(np.all(idx % 4 == 0), 'misaligned float4 shared access')
        check(np.all((rel >= 0) & (rel + 4 <= size)), f'shared access outside the {region} region')
        check(np.all(rel % pitch + 4 <= self.C.DP), f'shared access in the {region} pitch padding')
        return idx[:, None] + np.arange(4)

    def load4(self, region, idx, warp):
        ii = self._chk(region, np.asarray(idx, np.int64))
        check(self.written[ii].all(), f'read of never-written shared memory ({region})')
        if ((self.wphase[ii] == self.phase) & (self.wwarp[ii] != warp)).any():
            self.races.append(f'RAW {region} phase {self.phase} warp {warp}')
        self.rphase[warp][ii] = self.phase
        return self.a[ii].copy()

    def store4(self, region, idx, vals, warp):
        ii = self._chk(region, np.asarray(idx, np.int64))
        check(np.unique(ii.ravel()).size == ii.size, 'two lanes store the same shared word')
        for w in range(kWarps):
            if w != warp and (self.rphase[w][ii] == self.phase).any():
                self.races.append(f'WAR {region} phase {self.phase} warp {warp} over reader {w}')
        if ((self.wphase[ii] == self.phase) & (self.wwarp[ii] != warp)).any():
            self.races.append(f'WAW {region} phase {self.phase} warp {warp}')
        self.a[ii] = vals
        self.written[ii] = True
        self.wphase[ii] = self.phase
        self.wwarp[ii] = warp


# ---------------------------------------------------------------------------------------------
# Kernel transcription


class Cfg:  # Tf32Config<DP>
    def __init__(self, DP):
        self.DP = DP
        self.kKeys = 32 if DP == 128 else 64
        self.kQPitch = self.kKPitch = DP + 16
        self.kVPitch = DP + 4
        assert self.kQPitch % 32 == 16 and self.kVPitch % 16 == 4
        self.kChunks = DP // 4
        self.kRowsPerPass = kThreads // self.kChunks
        self.kKvPasses = self.kKeys // self.kRowsPerPass
        self.kQPasses = kRows // self.kRowsPerPass
        assert kThreads % self.kChunks == 0 and self.kKeys % self.kRowsPerPass == 0 and DP % 32 == 0
        self.kQ, self.kK, self.kV = kRows * self.kQPitch, self.kKeys * self.kKPitch, self.kKeys * self.kVPitch


def padded_depth(d, dv):
    d = max(d, dv)
    return 32 if d <= 32 else 64 if d <= 64 else 128


class View:
    pass


def make_head_view(p, b, h):
    v = View()
    kvh = h // (p.heads // p.kv_heads)
    if p.seq_offsets is not None:
        begin = p.seq_offsets[b]
        v.q_len = v.k_len = p.seq_offsets[b + 1] - begin
        v.q_base = begin * p.q_ss + h * p.q_sh
        v.k_base = begin * p.k_ss + kvh * p.k_sh
        v.v_base = begin * p.v_ss + kvh * p.v_sh
        v.o_base = begin * p.o_ss + h * p.o_sh
    elif p.k_lens is not None:
        v.q_len = p.q_lens[b]
        v.k_len = p.k_lens[b]
        q_row0 = p.q_row0[b] if p.q_row0 is not None else 0
        v.q_base = (q_row0 * p.q_ss if p.q_row0 is not None else b * p.q_sb) + h * p.q_sh
        v.o_base = (q_row0 * p.o_ss if p.q_row0 is not None else b * p.o_sb) + h * p.o_sh
        v.k_base = b * p.k_sb + kvh * p.k_sh
        v.v_base = b * p.v_sb + kvh * p.v_sh
    else:
        v.q_len, v.k_len = p.q_seq, p.k_seq
        v.q_base = b * p.q_sb + h * p.q_sh
        v.k_base = b * p.k_sb + kvh * p.k_sh
        v.v_base = b * p.v_sb + kvh * p.v_sh
        v.o_base = b * p.o_sb + h * p.o_sh
    v.k_end = v.k_len
    if p.key_limit is not None:
        lim = p.key_limit[b]
        v.k_end = (0 if lim < 0 else lim) if lim < v.k_end else v.k_end
    return v


def visible_key_end(p, v, row_last):
    end = v.k_end
    if p.causal:
        c = row_last + (v.k_len - v.q_len) + 1
        end = c if c < end else end
    return 0 if end < 0 else end


def mask_term(p, v, b, h, i, j):
    if j >= v.k_end:
        return -INF
    if p.causal and j > i + (v.k_len - v.q_len):
        return -INF
    if p.key_valid is not None and p.key_valid[b * p.k_seq + j] == 0:
        return -INF
    if p.mask_kind != 0:
        ms = p.mask_strides
        at = b * ms[0] + h * ms[1] + i * ms[2] + j * ms[3]
        if p.mask_kind == 1:
            if p.mask[at] == 0:
                return -INF
        else:
            return f32(p.mask[at])
    return f32(0)


def fetch_rows(N, base, ss, key0, r0, step, d, limit, vec, k_len, valid):
    """FetchRows<N>: returns r[lane, i, 0..3]."""
    r = np.zeros((32, N, 4), f32)
    for i in range(N):
        key = key0 + r0 + i * step
        inn = key < k_len
        if valid is not None:  # valid[key] is read only where key < k_len
            vk = np.zeros(32, bool)
            if inn.any():
                vk[inn] = valid[0][valid[1] + key[inn]] != 0
            inn = inn & vk
        if vec:
            inn = inn & (d < limit)
            if inn.any():
                r[inn, i, :] = gload(base, key[inn] * ss + d[inn], 4)
        else:
            for c in range(4):
                ok = inn & (d + c < limit)
                if ok.any():
                    cc = (c ^ 1 if c >= 2 else c) if 'scalar_col' in MUT else c
                    r[ok, i, c] = gload(base, key[ok] * ss + d[ok] + cc, 1)[:, 0]
    return r


def store_tf32_quad(sm, region, dst, v, warp):
    sm.store4(region, dst, tf32(v), warp)


def kernel_warp(p, C, bx, by, grid_y, warp, sm):
    """One warp of AttentionForwardTf32Kernel<DP>; yields at each __syncthreads."""
    KEYS = C.kKeys
    qs, ks, vs = 0, C.kQ, C.kQ + C.kK
    b, h = bx // p.heads, bx % p.heads
    view = make_head_view(p, b, h)
    row0 = (grid_y - 1 - by) * kRows
    if row0 >= view.q_len:
        return
    lane = np.arange(32)
    tid = warp * 32 + lane
    g, t = lane // 4, lane % 4
    row_last = min(row0 + kRows, view.q_len) - 1
    key_end = visible_key_end(p, view, row_last)

    dq = (tid % C.kChunks) * 4
    sr = tid // C.kChunks
    qg = p.q + view.q_base
    kg = p.k + view.k_base
    vg = p.v + view.v_base
    qvec = aligned16(qg) and (p.q_ss & 3) == 0 and (p.depth & 3) == 0
    kvec = aligned16(kg) and (p.k_ss & 3) == 0 and (p.depth & 3) == 0
    vvec = aligned16(vg) and (p.v_ss & 3) == 0 and (p.value_depth & 3) == 0
    p.stats['qvec' if qvec else 'qscalar'] = 1
    p.stats['kvec' if kvec else 'kscalar'] = 1
    p.stats['vvec' if vvec else 'vscalar'] = 1

    Q4 = C.kQPasses // 4
    for rnd in range(4):
        r0 = sr + rnd * Q4 * C.kRowsPerPass
        if 'q_round' in MUT:
            r0 = sr + rnd * C.kRowsPerPass
        qr = fetch_rows(Q4, qg, p.q_ss, row0, r0, C.kRowsPerPass, dq, p.depth, qvec, view.q_len, None)
        for i in range(Q4):
            store_tf32_quad(sm, 'q', qs + (r0 + i * C.kRowsPerPass) * C.kQPitch + dq, qr[:, i], warp)

    valid = (p.key_valid, b * p.k_seq) if p.key_valid is not None else None
    pre = {'tile': None, 'r': None}  # float4 pre[kKvPasses]; 'tile' is bookkeeping only

    def fetch_k(key0):
        pre['r'] = fetch_rows(C.kKvPasses, kg, p.k_ss, key0, sr, C.kRowsPerPass, dq, p.depth, kvec, view.k_len, valid)
        pre['tile'] = ('K', key0)

    def fetch_v(key0):
        pre['r'] = fetch_rows(C.kKvPasses, vg, p.v_ss, key0, sr, C.kRowsPerPass, dq, p.value_depth, vvec, view.k_len,
                              valid)
        pre['tile'] = ('V', key0)

    smem_tile = p.smem_tile  # bookkeeping: which tile each buffer holds (per block)

    def store_k():
        for i in range(C.kKvPasses):
            store_tf32_quad(sm, 'k', ks + (sr + i * C.kRowsPerPass) * C.kKPitch + dq, pre['r'][:, i], warp)
        smem_tile['k'] = pre['tile']

    def store_v():
        for i in range(C.kKvPasses):
            store_tf32_quad(sm, 'v', vs + (sr + i * C.kRowsPerPass) * C.kVPitch + dq, pre['r'][:, i], warp)
        smem_tile['v'] = pre['tile']

    if key_end > 0:
        fetch_k(0)
        store_k()
        fetch_v(0)
        store_v()
    yield  # __syncthreads: Q and the first K/V tile are in shared memory

    oacc = np.zeros((C.DP // 8, 32, 4), f32)
    m = [np.full(32, -INF, f32), np.full(32, -INF, f32)]
    l = [np.zeros(32, f32), np.zeros(32, f32)]
    rows = [row0 + warp * 16 + g, row0 + warp * 16 + g + 8]
    diag = view.k_len - view.q_len
    scale2 = f32(f32(p.scale) * kLog2e)
    qf0 = qs + (warp * 16 + g) * C.kQPitch + 4 * t
    qf1 = qf0 + 8 * C.kQPitch
    kf = ks + g * C.kKPitch + 4 * t
    if 'kf_col' in MUT:
        kf = ks + g * C.kKPitch + 4 * ((t + 1) % 4)
    vf = vs + 2 * t * C.kVPitch + 4 * g

    for key0 in range(0, key_end, KEYS):
        nxt = key0 + KEYS < key_end
        if smem_tile['k'] != ('K', key0):
            sm.races.append(f'K buffer holds {smem_tile["k"]} when warp {warp} starts tile {key0}')
        if nxt:
            fetch_k(key0 + KEYS)

        sacc = np.zeros((KEYS // 8, 32, 4), f32)
        for mk in range(C.DP // 16):
            q0 = sm.load4('q', qf0 + 16 * mk, warp)
            q1 = sm.load4('q', qf1 + 16 * mk, warp)
            a_even = np.stack([q0[:, 0], q1[:, 0], q0[:, 1], q1[:, 1]], axis=1)
            a_odd = np.stack([q0[:, 2], q1[:, 2], q0[:, 3], q1[:, 3]], axis=1)
            for n in range(KEYS // 8):
                kb = sm.load4('k', kf + n * 8 * C.kKPitch + 16 * mk, warp)
                sacc[n] = mma(sacc[n], a_even, kb[:, 0], kb[:, 1])
                sacc[n] = mma(sacc[n], a_odd, kb[:, 2], kb[:, 3])

        plain = (p.mask_kind == 0 and p.key_valid is None and key0 + KEYS <= view.k_end and
                 (not p.causal or key0 + KEYS - 1 <= row0 + diag))
        if plain:
            p.stats['plain'] = 1
            sacc = (sacc * scale2).astype(f32)
        elif p.mask_kind == 0 and p.key_valid is None:
            p.stats['compare'] = 1
            for n in range(KEYS // 8):
                for e in range(4):
                    i = rows[e // 2]
                    j = key0 + n * 8 + 2 * t + (e & 1)
                    if 'mask_j' in MUT:
                        j = key0 + n * 8 + 2 * t + (e >> 1)
                    seen = (i < view.q_len) & (j < view.k_end) & ((not p.causal) | (j <= i + diag))
                    sacc[n][:, e] = np.where(seen, (sacc[n][:, e] * scale2).astype(f32), -INF)
        else:
            p.stats['maskterm'] = 1
            for n in range(KEYS // 8):
                for e in range(4):
                    for ln in range(32):
                        i = int(rows[e // 2][ln])
                        j = key0 + n * 8 + 2 * int(t[ln]) + (e & 1)
                        term = mask_term(p, view, b, h, i, j) if i < view.q_len else -INF
                        s = sacc[n][ln, e]
                        sacc[n][ln, e] = -INF if term == -INF else fmaf(s, scale2, f32(term) * kLog2e)

        pa = np.zeros((KEYS // 8, 32, 4), f32)
        alpha = [None, None]
        for half in range(2):
            tile_max = np.full(32, -INF, f32)
            for n in range(KEYS // 8):
                tile_max = np.fmax(tile_max, np.fmax(sacc[n][:, half * 2], sacc[n][:, half * 2 + 1]))
            tile_max = np.fmax(tile_max, shfl_xor(tile_max, 1))
            tile_max = np.fmax(tile_max, shfl_xor(tile_max, 2))
            m_new = np.fmax(m[half], tile_max)
            ref = np.where(m_new == -INF, f32(0), m_new).astype(f32)
            alpha[half] = exp2a(m[half] - ref)
            row_sum = np.zeros(32, f32)
            for n in range(KEYS // 8):
                p0 = exp2a(sacc[n][:, half * 2] - ref)
                p1 = exp2a(sacc[n][:, half * 2 + 1] - ref)
                row_sum = (row_sum + (p0 + p1)).astype(f32)
                if 'pa_order' in MUT:  # {c0, c1, c2, c3} instead of {c0, c2, c1, c3}
                    pa[n][:, 2 * half] = tf32(p0)
                    pa[n][:, 2 * half + 1] = tf32(p1)
                else:
                    pa[n][:, half] = tf32(p0)
                    pa[n][:, 2 + half] = tf32(p1)
            row_sum = (row_sum + shfl_xor(row_sum, 1)).astype(f32)
            row_sum = (row_sum + shfl_xor(row_sum, 2)).astype(f32)
            l[half] = (l[half] * alpha[half] + row_sum).astype(f32)
            m[half] = m_new
        skip_pred = (alpha[0] != 1) if 'rescale_half' in MUT else ((alpha[0] != 1) | (alpha[1] != 1))
        if np.any(skip_pred):  # __any_sync
            p.stats['rescale'] = p.stats.get('rescale', 0) + 1
            for n in range(C.DP // 8):
                oacc[n][:, 0] *= alpha[0]
                oacc[n][:, 1] *= alpha[0]
                oacc[n][:, 2] *= alpha[1]
                oacc[n][:, 3] *= alpha[1]
        else:
            p.stats['skip'] = p.stats.get('skip', 0) + 1

        if 'no_sync_a' not in MUT:
            yield  # sync A
        if nxt:
            store_k()
            fetch_v(key0 + KEYS)
        if smem_tile['v'] != ('V', key0):
            sm.races.append(f'V buffer holds {smem_tile["v"]} when warp {warp} starts P.V of tile {key0}')
        for kc in range(KEYS // 8):
            for jd in range(C.DP // 32):
                v0 = sm.load4('v', vf + kc * 8 * C.kVPitch + 32 * jd, warp)
                v1 = sm.load4('v', vf + (kc * 8 + 1) * C.kVPitch + 32 * jd, warp)
                for u in range(4):
                    oacc[4 * jd + u] = mma(oacc[4 * jd + u], pa[kc], v0[:, u], v1[:, u])
        if 'no_sync_b' not in MUT:
            yield  # sync B
        if nxt:
            store_v()

    og = p.out + view.o_base
    ovec = aligned16(og) and (p.o_ss & 3) == 0 and (p.value_depth & 3) == 0
    p.stats['ovec' if ovec else 'oscalar'] = 1
    for half in range(2):
        i = rows[half]
        act = i < view.q_len  # lanes that do not `continue`
        if not act.any():
            continue
        empty = (m[half] == -INF) & (l[half] == 0)
        inv = np.where(empty, f32(0), (f32(1) / l[half]).astype(f32)).astype(f32)
        for jd in range(C.DP // 32):
            for c in range(2):
                d = 32 * jd + 8 * t + 4 * c
                if 'out_col' in MUT:
                    d = 32 * jd + 8 * t + 4 * (1 - c)
                o = np.stack([np.where(empty, f32(0), (oacc[4 * jd + u][:, half * 2 + c] * inv).astype(f32))
                              for u in range(4)], axis=1)
                if ovec:
                    w = act & (d < p.value_depth)
                    if w.any():
                        gstore(og, i[w] * p.o_ss + d[w], o[w], 4)
                else:
                    for u in range(4):
                        w = act & (d + u < p.value_depth)
                        if w.any():
                            gstore(og, i[w] * p.o_ss + d[w] + u, o[w, u], 1)
        if p.lse is not None:
            w = act & (t == 0)
            val = np.where(empty, -INF, (m[half] * kLn2 + np.log(l[half]).astype(f32)).astype(f32))
            gstore(p.lse, (b * p.heads + h) * p.q_seq + i[w], val[w], 1)


def launch(p, rng):
    DP = padded_depth(p.depth, p.value_depth)
    C = Cfg(DP)
    grid_x, grid_y = p.batch * p.heads, (p.q_seq + kRows - 1) // kRows
    races = []
    for bx in range(grid_x):
        for by in range(grid_y):
            sm = Smem(C)
            p.smem_tile = {'k': None, 'v': None}
            gens = [kernel_warp(p, C, bx, by, grid_y, w, sm) for w in range(kWarps)]
            alive = [True] * kWarps
            while any(alive):
                res = {}
                for w in rng.permutation(kWarps):
                    if not alive[w]:
                        continue
                    try:
                        next(gens[w])
                        res[w] = 'sync'
                    except StopIteration:
                        alive[w] = False
                        res[w] = 'exit'
                check(len(set(res.values())) == 1, f'barrier divergence in block ({bx}, {by}): {res}')
                sm.phase += 1
            races += sm.races
    return C, races


# ---------------------------------------------------------------------------------------------
# Cases: logical tensors, their packing into strided buffers, the float64 reference


class Params:
    pass


def build(spec, seed):
    rng = np.random.default_rng(seed)
    B, H, Hkv, D, Dv = spec['B'], spec['H'], spec.get('Hkv', spec['H']), spec['D'], spec['Dv']
    mode = spec.get('mode', 'fixed')
    p = Params()
    p.batch, p.heads, p.kv_heads, p.depth, p.value_depth = B, H, Hkv, D, Dv
    p.causal = spec.get('causal', False)
    p.scale = f32(spec.get('scale', 1 / math.sqrt(D)))
    p.seq_offsets = p.q_lens = p.k_lens = p.q_row0 = p.key_limit = None
    p.stats = {}
    if mode == 'packed':
        lens = spec['lens']
        qlens = klens = list(lens)
        p.seq_offsets = [0] + list(np.cumsum(lens))
        p.q_seq = p.k_seq = max(lens)
    elif mode == 'lens':
        qlens, klens = list(spec['q_lens']), list(spec['k_lens'])
        p.q_lens, p.k_lens = qlens, klens
        p.q_seq, p.k_seq = spec['Sq'], spec['Sk']
        if spec.get('q_row0'):
            p.q_row0 = [0] + list(np.cumsum(qlens))[:-1]
    else:
        p.q_seq, p.k_seq = spec['Sq'], spec['Sk']
        qlens, klens = [p.q_seq] * B, [p.k_seq] * B
    if spec.get('key_limit') is not None:
        p.key_limit = list(spec['key_limit'])

    Q = [rng.standard_normal((H, qlens[b], D)).astype(f32) * f32(spec.get('amp', 1)) for b in range(B)]
    K = [rng.standard_normal((Hkv, klens[b], D)).astype(f32) * f32(spec.get('amp', 1)) for b in range(B)]
    V = [rng.standard_normal((Hkv, klens[b], Dv)).astype(f32) for b in range(B)]
    if spike := spec.get('spike'):
        # rows 0..7 of every 16 see their largest score at key 0 (their max never moves after the
        # first tile) while rows 8..15 are random: the rescale is needed for the g+8 rows only.
        for b in range(B):
            for hh in range(H):
                for r in range(qlens[b]):
                    if r % 16 < 8:
                        Q[b][hh, r] = f32(spike) * K[b][hh // (H // Hkv), 0]

    kv = None
    if spec.get('key_pad'):
        kv = np.ones((B, p.k_seq), np.uint8)
        for b in range(B):
            kv[b, max(0, klens[b] - spec['key_pad'][b]):] = 0  # trailing padding
            for j in spec.get('key_holes', []):
                if j < klens[b]:
                    kv[b, j] = 0
        for b in range(B):  # padded keys hold NaN
            for j in range(klens[b]):
                if kv[b, j] == 0:
                    K[b][:, j, :] = np.nan
                    V[b][:, j, :] = np.nan
    p.key_valid = kv.ravel() if kv is not None else None

    # Layout: 'bhsd' (head-major) or 'bshd' (row-major over heads, the packed QKV form); extra
    # floats per row (rpad) and per head (hpad); ptr offsets (off) to break 16-byte alignment.
    layout = spec.get('layout', 'bhsd')
    rpad, hpad = spec.get('rpad', 0), spec.get('hpad', 0)
    offs = spec.get('off', {})

    def strides(nh, S, width, rows_packed):
        # rows_packed: rows of all batches are consecutive token rows ([tokens, heads, width]).
        if layout == 'bhsd' and not rows_packed:
            ss = width + rpad
            sh = S * ss + hpad
            return nh * sh, sh, ss
        sh = width + hpad
        ss = nh * sh + rpad
        return (0 if rows_packed else S * ss), sh, ss

    def rowbase(name, b, sb, ss):
        if p.seq_offsets is not None:
            return p.seq_offsets[b] * ss
        if p.q_row0 is not None and name in ('q', 'o'):
            return p.q_row0[b] * ss
        return b * sb

    q_packed = mode == 'packed' or (mode == 'lens' and p.q_row0 is not None)
    p.q_sb, p.q_sh, p.q_ss = strides(H, p.q_seq, D, q_packed)
    p.o_sb, p.o_sh, p.o_ss = strides(H, p.q_seq, Dv, q_packed)
    p.k_sb, p.k_sh, p.k_ss = strides(Hkv, p.k_seq, D, mode == 'packed')
    p.v_sb, p.v_sh, p.v_ss = strides(Hkv, p.k_seq, Dv, mode == 'packed')

    def pack(name, T, nh, width, sb, sh, ss, lens):
        off = offs.get(name, 0)
        size = off + 1 + max(rowbase(name, b, sb, ss) + (nh - 1) * sh + max(lens[b] - 1, 0) * ss + width
                             for b in range(B)) + 64
        buf = GBuf(size)
        for b in range(B):
            for hh in range(nh):
                for r in range(lens[b]):
                    a = off + rowbase(name, b, sb, ss) + hh * sh + r * ss
                    check(not buf.legal[a:a + width].any(), f'layout overlap in {name}')
                    if T is not None:
                        buf.a[a:a + width] = T[b][hh, r]
                        row_ok = not (name in ('k', 'v') and kv is not None and kv[b, r] == 0)
                        buf.legal[a:a + width] = row_ok
                    else:
                        buf.legal[a:a + width] = True
        return Ptr(buf, off)

    p.q = pack('q', Q, H, D, p.q_sb, p.q_sh, p.q_ss, qlens)
    p.k = pack('k', K, Hkv, D, p.k_sb, p.k_sh, p.k_ss, klens)
    p.v = pack('v', V, Hkv, Dv, p.v_sb, p.v_sh, p.v_ss, klens)
    p.out = pack('o', None, H, Dv, p.o_sb, p.o_sh, p.o_ss, qlens)
    p.lse = None
    if spec.get('lse', True):
        lb = GBuf(B * H * p.q_seq)
        for b in range(B):
            for hh in range(H):
                lb.legal[(b * H + hh) * p.q_seq:(b * H + hh) * p.q_seq + qlens[b]] = True
        p.lse = Ptr(lb, 0)

    # Masks: [B, Hm, Sq, Sk] with Hm = H or 1 (head stride 0)
    p.mask_kind, p.mask, p.mask_strides = 0, None, (0, 0, 0, 0)
    M = None
    if spec.get('mask'):
        kind = spec['mask']
        Hm = 1 if spec.get('mask_bcast_h') else H
        if kind == 'bool':
            M = (rng.random((B, Hm, p.q_seq, p.k_seq)) > 0.3).astype(np.uint8)
            for (bb, hh, ii) in spec.get('dead_rows', []):
                M[bb, min(hh, Hm - 1), ii, :] = 0
            p.mask_kind = 1
        else:
            M = (rng.standard_normal((B, Hm, p.q_seq, p.k_seq)) * 2).astype(f32)
            M[rng.random(M.shape) < 0.1] = -np.inf
            for (bb, hh, ii) in spec.get('dead_rows', []):
                M[bb, min(hh, Hm - 1), ii, :] = -np.inf
            p.mask_kind = 2
        p.mask = M.ravel()
        p.mask_strides = (Hm * p.q_seq * p.k_seq, 0 if Hm == 1 else p.q_seq * p.k_seq, p.k_seq, 1)

    # float64 reference from TF32-rounded operands
    ref_out, ref_lse = [], []
    for b in range(B):
        ql, kl = qlens[b], klens[b]
        k_end = kl if p.key_limit is None else max(0, min(kl, p.key_limit[b]))
        ii, jj = np.meshgrid(np.arange(ql), np.arange(kl), indexing='ij')
        vis = jj < k_end
        if p.causal:
            vis &= jj <= ii + (kl - ql)
        if kv is not None:
            vis &= kv[b, :kl][None, :] != 0
        ob, lb_ = np.zeros((H, ql, Dv)), np.zeros((H, ql))
        for hh in range(H):
            kvh = hh // (H // Hkv)
            q = tf32(Q[b][hh]).astype(np.float64)
            k = tf32(np.nan_to_num(K[b][kvh])).astype(np.float64)
            v = tf32(np.nan_to_num(V[b][kvh])).astype(np.float64)
            s = (q @ k.T) * float(p.scale)
            vh = vis.copy()
            if M is not None:
                mm = M[b, min(hh, M.shape[1] - 1), :ql, :kl]
                if p.mask_kind == 1:
                    vh &= mm != 0
                else:
                    vh &= np.isfinite(mm)
                    s = s + np.where(np.isfinite(mm), mm, 0)
            s = np.where(vh, s, -np.inf)
            mx = s.max(axis=1, keepdims=True) if kl else np.full((ql, 1), -np.inf)
            anyv = vh.any(axis=1) if kl else np.zeros(ql, bool)
            e = np.where(vh, np.exp(s - np.where(anyv[:, None], mx, 0)), 0)
            den = e.sum(axis=1)
            ob[hh] = np.where(anyv[:, None], (e @ v) / np.where(anyv, den, 1)[:, None], 0)
            lb_[hh] = np.where(anyv, np.log(np.where(anyv, den, 1)) + np.where(anyv, mx[:, 0], 0), -np.inf)
        ref_out.append(ob)
        ref_lse.append(lb_)
    return p, (qlens, klens, ref_out, ref_lse)


def run_case(name, spec, seed, orders=(1,), verbose=True):
    p, (qlens, klens, ref_out, ref_lse) = build(spec, seed)
    results = []
    for o in orders:
        p2, _ = build(spec, seed)
        C, races = launch(p2, np.random.default_rng(o))
        results.append((p2, C, races))
    p, C, races = results[0]
    B, H = p.batch, p.heads
    probs = []
    # read back out / lse through the layout
    ob = p.out.buf
    got, want = [], []
    lse_err, empty_ok, nan_found = 0.0, True, False
    for b in range(B):
        for hh in range(H):
            for r in range(qlens[b]):
                if p.seq_offsets is not None:
                    base = p.seq_offsets[b] * p.o_ss
                elif p.q_row0 is not None:
                    base = p.q_row0[b] * p.o_ss
                else:
                    base = b * p.o_sb
                a = p.out.off + base + hh * p.o_sh + r * p.o_ss
                got.append(ob.a[a:a + p.value_depth])
                want.append(ref_out[b][hh, r])
            if p.lse is not None:
                L = p.lse.buf.a[(b * H + hh) * p.q_seq:(b * H + hh) * p.q_seq + qlens[b]]
                R = ref_lse[b][hh]
                fin = np.isfinite(R)
                if not np.all(L[~fin] == -np.inf):
                    empty_ok = False
                if fin.any():
                    lse_err = max(lse_err, float(np.max(np.abs(L[fin] - R[fin]) / np.maximum(1, np.abs(R[fin])))))
                    nan_found |= bool(np.isnan(L[fin]).any())
    got, want = np.concatenate(got), np.concatenate(want)
    nan_found |= bool(np.isnan(got).any())
    err = float(np.linalg.norm(got - want) / max(np.linalg.norm(want), 1e-30)) if not nan_found else float('nan')
    n_empty = sum(int((~np.isfinite(ref_lse[b])).sum()) for b in range(B))
    dead = np.concatenate([np.repeat(~np.isfinite(ref_lse[b].ravel()), p.value_depth) for b in range(B)])
    if not np.all(got[dead] == 0):
        probs.append('a row with no visible key is not all zeros')
    wr = ob.writes
    if np.any(wr[ob.legal] != 1):
        probs.append(f'out elements written {sorted(set(wr[ob.legal].tolist()))} times')
    if np.any(wr[~ob.legal] != 0):
        probs.append('out written outside its rows')
    if p.lse is not None:
        lw = p.lse.buf.writes
        if np.any(lw[p.lse.buf.legal] != 1) or np.any(lw[~p.lse.buf.legal] != 0):
            probs.append('lse write counts wrong')
    for tname in ('q', 'k', 'v'):
        br = getattr(p, tname).buf.bad_reads
        if br:
            probs.append(f'{br} loads of {tname} outside its rows or in padded keys')
    if races:
        probs.append(f'{len(races)} shared-memory races, e.g. {races[0]}')
    for p2, _, _ in results[1:]:
        if not np.array_equal(p2.out.buf.a, p.out.buf.a, equal_nan=True):
            probs.append('result depends on warp order')
    if not empty_ok:
        probs.append('lse of a row with no visible key is not -inf')
    ok = (not probs) and err <= 2e-3 and lse_err <= 2e-3
    st = p.stats
    paths = ' '.join(k for k in ('qvec', 'qscalar', 'kvec', 'kscalar', 'vvec', 'vscalar', 'ovec', 'oscalar',
                                  'plain', 'compare', 'maskterm') if k in st)
    if verbose:
        print(f"{'OK  ' if ok else 'FAIL'} {name:34s} DP={C.DP:3d} KEYS={C.kKeys} rel_err={err:.2e} lse_err={lse_err:.2e} "
              f"empty_rows={n_empty} rescale/skip={st.get('rescale', 0)}/{st.get('skip', 0)} [{paths}]"
              + ('' if not probs else '  !! ' + '; '.join(probs)))
    return ok


CASES = [
    ('dp32 vec gqa Sq<Sk', dict(B=2, H=4, Hkv=2, D=32, Dv=32, Sq=70, Sk=130)),
    ('dp32 D=24 Dv=20 causal Sq>Sk', dict(B=1, H=2, D=24, Dv=20, Sq=100, Sk=45, causal=True)),
    ('dp32 D=3 Dv=5 scalar', dict(B=1, H=1, D=3, Dv=5, Sq=20, Sk=67)),
    ('dp64 D=42 Dv=24 scalar causal', dict(B=2, H=2, D=42, Dv=24, Sq=77, Sk=150, causal=True)),
    ('dp64 D=64 causal Sq>Sk empty rows', dict(B=1, H=2, D=64, Dv=64, Sq=100, Sk=77, causal=True)),
    ('dp64 keypad NaN causal bshd', dict(B=2, H=3, Hkv=1, D=64, Dv=48, Sq=65, Sk=150, causal=True, layout='bshd',
                                          key_pad=[20, 70], key_holes=[3, 64])),
    ('dp64 misaligned ptr+stride', dict(B=1, H=2, D=64, Dv=64, Sq=50, Sk=90, rpad=1,
                                         off={'q': 1, 'k': 2, 'v': 3, 'o': 1})),
    ('dp128 vec', dict(B=1, H=2, D=128, Dv=128, Sq=130, Sk=97)),
    ('dp128 bool mask + dead row', dict(B=2, H=2, D=128, Dv=128, Sq=70, Sk=75, mask='bool',
                                         dead_rows=[(0, 1, 5), (1, 0, 69)])),
    ('dp128 D=96 Dv=112 additive causal gqa', dict(B=1, H=4, Hkv=2, D=96, Dv=112, Sq=40, Sk=200, causal=True,
                                                    mask='add', mask_bcast_h=True, dead_rows=[(0, 0, 2)])),
    ('dp128 D=100 Dv=70 scalar keypad', dict(B=2, H=2, Hkv=1, D=100, Dv=70, Sq=33, Sk=71, key_pad=[0, 40],
                                              layout='bshd')),
    ('dp64 packed seq_offsets causal', dict(B=3, H=2, D=64, Dv=64, mode='packed', lens=[37, 130, 1], causal=True)),
    ('dp32 packed seq_offsets scalar', dict(B=2, H=2, D=30, Dv=30, mode='packed', lens=[66, 5])),
    ('dp128 k_lens q_row0 causal', dict(B=2, H=2, D=128, Dv=128, mode='lens', Sq=70, Sk=140, q_lens=[3, 70],
                                         k_lens=[140, 100], q_row0=True, causal=True)),
    ('dp64 key_limit causal', dict(B=2, H=1, D=64, Dv=64, Sq=70, Sk=130, causal=True, key_limit=[90, -3])),
    ('dp32 large scores (rescale path)', dict(B=1, H=1, D=32, Dv=32, Sq=64, Sk=200, amp=3.0)),
    ('dp64 rows g fixed max, g+8 moving', dict(B=1, H=2, D=64, Dv=64, Sq=64, Sk=300, spike=3.0)),
]

NEG = [('pa_order', 'dp64 D=64 causal Sq>Sk empty rows'), ('kf_col', 'dp32 vec gqa Sq<Sk'),
       ('mask_j', 'dp64 D=64 causal Sq>Sk empty rows'), ('out_col', 'dp128 vec'),
       ('no_sync_a', 'dp64 D=42 Dv=24 scalar causal'), ('no_sync_b', 'dp128 vec'),
       ('q_round', 'dp128 vec'), ('scalar_col', 'dp32 D=3 Dv=5 scalar'),
       ('rescale_half', 'dp64 rows g fixed max, g+8 moving')]

if __name__ == '__main__':
    quick = '--quick' in sys.argv
    allok = True
    cases = CASES[:4] if quick else CASES
    for i, (name, spec) in enumerate(cases):
        try:
            allok &= run_case(name, spec, seed=i, orders=(1, 2))
        except EmuError as e:
            print(f'FAIL {name}: {e}')
            allok = False
    print('ALL CASES PASS' if allok else 'SOME CASES FAIL')
    if '--no-neg' not in sys.argv:
        print('negative controls (each must FAIL):')
        byname = dict(CASES)
        neg_ok = True
        for mut, cname in NEG:
            MUT.clear()
            MUT.add(mut)
            try:
                r = run_case(f'[{mut}] {cname}', byname[cname], seed=99, orders=(1,))
            except EmuError as e:
                print(f'FAIL [{mut}] {cname}: {e}')
                r = False
            neg_ok &= not r
        MUT.clear()
        print('negative controls all detected' if neg_ok else 'A NEGATIVE CONTROL WENT UNDETECTED')
        allok &= neg_ok
    sys.exit(0 if allok else 1)
