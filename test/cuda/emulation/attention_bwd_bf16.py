"""Warp-level emulation of kernels/cuda/attention_bwd_bf16.cu (ConvertKernel + AttentionBackwardBf16Kernel),
compared with a float64 reference of the attention backward.

The kernel's per-lane index arithmetic is transcribed literally and run one block at a time, warp by
warp, on emulated hardware ops (ldmatrix .x4 / .trans, mma.sync m16n8k16 row.col, cp.async with zero
fill, cvt.rn.bf16x2, ex2.approx.ftz, atomics):
  * shared memory is one bf16 array (byte addresses as the kernel computes them, 16-byte alignment of
    every ldmatrix row and cp.async destination asserted) plus the FP32 lse/delta area, filled with NaN
    at block start so a read of anything never written shows up in the results;
  * cp.async writes are queued per warp and land only at the cp.async.wait_group that must retire them
    (as late as the PTX rules allow), so a wrong wait count or buffer index reads stale/NaN data;
  * a race checker tracks, per barrier interval, which warp wrote / read each shared element and which
    elements have cp.async writes in flight: a cross-warp write/read or write/write in one interval, or
    a read of an in-flight element, is reported;
  * warps run sequentially between barriers (forward or reverse order);
  * global reads of the bf16 scratch and of the mask are bounds-checked; dk/dv stores are counted
    (each element exactly once, nothing outside the logical tensor touched); dq/dmask atomics are adds.
The cp.async pipeline timing itself is not emulated beyond the latest-landing rule above.
"""
import math
import sys
import time

import numpy as np

LANE = np.arange(32)
G = LANE // 4
T = LANE % 4
LOG2E = np.float32(1.4426950408889634)
STATS = {'pairs': 0}
F32 = np.float32


def bf16(x):
    x = np.array(x, np.float32, ndmin=1)
    b = x.view(np.uint32).astype(np.uint64)
    u16 = np.uint64(16)
    b = ((b + np.uint64(0x7FFF) + ((b >> u16) & np.uint64(1))) >> u16) << u16
    r = b.astype(np.uint32).view(np.float32)
    return np.where(np.isnan(x), np.float32(np.nan), r)


def pack(lo, hi):
    """PackBf16(lo, hi): cvt.rn.bf16x2.f32 d, hi, lo -> lo in the low half. Register = (lo, hi)."""
    return np.stack([bf16(lo), bf16(hi)], axis=-1)


def fmaf(a, b, c):
    return (np.asarray(a, np.float64) * np.asarray(b, np.float64) + np.asarray(c, np.float64)).astype(np.float32)


def exp2_ftz(x):
    with np.errstate(over='ignore', under='ignore', invalid='ignore'):
        r = np.exp2(np.asarray(x, np.float32))
    return np.where(np.abs(r) < np.float32(2.0 ** -126), np.float32(0), r).astype(np.float32)


class RaceError(Exception):
    pass


class Shared:
    """Shared array with per-interval race tracking and queued cp.async writes."""

    def __init__(self, n, name):
        self.name = name
        self.val = np.full(n, np.nan, np.float32)
        self.writer = np.full(n, -1, np.int16)
        self.readers = np.zeros(n, np.int64)
        self.inflight = np.zeros(n, np.int16)
        self.races = []

    def _race(self, msg):
        if len(self.races) < 5:
            self.races.append(f"{self.name}: {msg}")

    def read(self, idx, w):
        idx = np.asarray(idx).ravel()
        assert idx.min() >= 0 and idx.max() < self.val.size, f"{self.name} read out of range"
        if (self.inflight[idx] > 0).any():
            self._race(f"warp {w} reads elements with cp.async in flight (e.g. {idx[self.inflight[idx] > 0][0]})")
        wr = self.writer[idx]
        if ((wr >= 0) & (wr != w)).any():
            self._race(f"warp {w} reads element {idx[(wr >= 0) & (wr != w)][0]} written by warp "
                       f"{wr[(wr >= 0) & (wr != w)][0]} in the same barrier interval")
        self.readers[idx] |= (1 << w)
        return self.val[idx]

    def write(self, idx, v, w, check_inflight=True):
        idx = np.asarray(idx).ravel()
        v = np.asarray(v, np.float32).ravel()
        assert idx.min() >= 0 and idx.max() < self.val.size, f"{self.name} write out of range"
        if np.unique(idx).size != idx.size:
            self._race(f"warp {w}: two lanes store to one element in one instruction")
        if check_inflight and (self.inflight[idx] > 0).any():
            self._race(f"warp {w} stores to elements with cp.async in flight")
        wr = self.writer[idx]
        if ((wr >= 0) & (wr != w)).any():
            self._race(f"warp {w} writes element {idx[(wr >= 0) & (wr != w)][0]} also written by warp "
                       f"{wr[(wr >= 0) & (wr != w)][0]} in the same barrier interval")
        other = self.readers[idx] & ~np.int64(1 << w)
        if (other != 0).any():
            self._race(f"warp {w} writes element {idx[other != 0][0]} read by another warp in the same interval")
        self.val[idx] = v
        self.writer[idx] = w

    def barrier(self):
        self.writer[:] = -1
        self.readers[:] = 0


class CpAsyncUnit:
    """Per-warp cp.async groups (all 32 threads of a warp commit / wait together in this kernel)."""

    def __init__(self, sm, nwarps):
        self.sm = sm
        self.open = [[] for _ in range(nwarps)]
        self.groups = [[] for _ in range(nwarps)]

    def copy16(self, w, dst_half, src_vals):
        """cp.async.cg 16 bytes; src_vals None = src size 0 (zero fill)."""
        assert dst_half % 8 == 0, "cp.async destination not 16-byte aligned"
        idx = np.arange(dst_half, dst_half + 8)
        other = self.sm.readers[idx] & ~np.int64(1 << w)
        if (other != 0).any():
            self.sm._race(f"warp {w} cp.async to elements another warp read in the same interval")
        self.sm.inflight[idx] += 1
        self.open[w].append((idx, np.zeros(8, np.float32) if src_vals is None else np.asarray(src_vals, np.float32)))

    def commit(self, w):
        self.groups[w].append(self.open[w])
        self.open[w] = []

    def wait(self, w, n):
        while len(self.groups[w]) > n:
            for idx, vals in self.groups[w].pop(0):
                self.sm.inflight[idx] -= 1
                self.sm.write(idx, vals, w, check_inflight=False)

    def pending(self):
        return sum(len(x) for x in self.open) + sum(len(g) for x in self.groups for g in x)


def ldmatrix_x4(sm, addr_bytes, w, trans):
    """addr_bytes[lane]: row address (bytes) given by the lane. Returns regs (32, 4, 2) = (lo, hi)."""
    addr = np.asarray(addr_bytes, np.int64)
    assert addr.shape == (32,)
    assert (addr % 16 == 0).all(), "ldmatrix row address not 16-byte aligned"
    rows = sm.read((addr[:, None] // 2 + np.arange(8)).ravel(), w).reshape(4, 8, 8)  # [matrix, row, col]
    m = np.arange(4)[None, :]
    g, t = G[:, None], T[:, None]
    if trans:
        lo, hi = rows[m, 2 * t, g], rows[m, 2 * t + 1, g]
    else:
        lo, hi = rows[m, g, 2 * t], rows[m, g, 2 * t + 1]
    return np.stack([lo, hi], axis=-1)


def mma(c, a, b0, b1):
    """c (32, 4) f32 in place += A·B; a (32, 4, 2); b0, b1 (32, 2)."""
    A = np.zeros((16, 16)); B = np.zeros((16, 8)); C = np.zeros((16, 8))
    for h in range(2):
        A[G, 2 * T + h] = a[:, 0, h]; A[G + 8, 2 * T + h] = a[:, 1, h]
        A[G, 2 * T + 8 + h] = a[:, 2, h]; A[G + 8, 2 * T + 8 + h] = a[:, 3, h]
        B[2 * T + h, G] = b0[:, h]; B[2 * T + 8 + h, G] = b1[:, h]
    C[G, 2 * T] = c[:, 0]; C[G, 2 * T + 1] = c[:, 1]; C[G + 8, 2 * T] = c[:, 2]; C[G + 8, 2 * T + 1] = c[:, 3]
    with np.errstate(invalid='ignore', over='ignore'):
        D = (A @ B + C).astype(np.float32)
    c[:, 0] = D[G, 2 * T]; c[:, 1] = D[G, 2 * T + 1]; c[:, 2] = D[G + 8, 2 * T]; c[:, 3] = D[G + 8, 2 * T + 1]


def padded_depth(d, dv):
    x = max(d, dv)
    return 32 if x <= 32 else 64 if x <= 64 else 128


def align256(x):
    return (x + 255) // 256 * 256


class Params:
    pass


def layout(p):
    dp = padded_depth(p.depth, p.value_depth)
    q_rows = p.batch * p.heads * p.q_seq
    k_rows = p.batch * p.kv_heads * p.k_seq
    l = {'q': 0}
    l['dout'] = l['q'] + align256(q_rows * dp * 2)
    l['k'] = l['dout'] + align256(q_rows * dp * 2)
    l['v'] = l['k'] + align256(k_rows * dp * 2)
    l['total'] = l['v'] + align256(k_rows * dp * 2)
    return l


def make_head_view(p, b, h):
    kvh = h // (p.heads // p.kv_heads)
    v = Params()
    v.q_len, v.k_len = p.q_seq, p.k_seq
    v.q_base = b * p.q_sb + h * p.q_sh
    v.k_base = b * p.k_sb + kvh * p.k_sh
    v.v_base = b * p.v_sb + kvh * p.v_sh
    v.o_base = b * p.o_sb + h * p.o_sh
    v.k_end = v.k_len
    if p.key_limit is not None:
        lim = int(p.key_limit[b])
        v.k_end = (0 if lim < 0 else lim) if lim < v.k_end else v.k_end
    return v


def mask_offset(p, b, h, i, j):
    s = p.mask_strides
    return b * s[0] + h * s[1] + i * s[2] + j * s[3]


def gsel(buf, at, cond):
    """cond ? buf[at] : 0.f, reading buf only where cond holds (bounds-checked)."""
    at = np.asarray(at); cond = np.broadcast_to(cond, at.shape)
    if cond.any():
        assert at[cond].min() >= 0 and at[cond].max() < buf.size, "global read out of range"
    return np.where(cond, buf[np.where(cond, at, 0)], np.float32(0)).astype(np.float32)


# ----------------------------------------------------------------------------------------------------
# ConvertKernel<DP>: one warp per row; lane c writes bf16 pairs c, c + 32, ...
def convert_kernel(p, DP, dout, delta, scratch, l):
    kPairs = DP // 2
    qb, dob, kb, vb = l['q'] // 2, l['dout'] // 2, l['k'] // 2, l['v'] // 2  # in halves
    q_rows = p.batch * p.heads * p.q_seq
    k_rows = p.batch * p.kv_heads * p.k_seq
    for row in range(q_rows + k_rows):
        if row < q_rows:
            i = row % p.q_seq
            bh = row // p.q_seq
            b, h = bh // p.heads, bh % p.heads
            q = b * p.q_sb + h * p.q_sh + i * p.q_ss
            o = b * p.o_sb + h * p.o_sh + i * p.o_ss
            s = np.zeros(32, np.float32)
            for d0 in range(0, p.value_depth, 32):  # lane: d = lane, lane + 32, ...
                d = d0 + LANE
                s = fmaf(gsel(dout, o + d, d < p.value_depth), gsel(p.out, o + d, d < p.value_depth), s)
            off = 16
            while off > 0:
                s = (s + s[LANE ^ off]).astype(np.float32)
                off >>= 1
            delta[row] = s[0]
            c = np.arange(kPairs)  # lane c % 32 writes pair c (uint32 word row * kPairs + c)
            d = 2 * c
            qdst = qb + 2 * (row * kPairs + c)
            ddst = dob + 2 * (row * kPairs + c)
            scratch[np.stack([qdst, qdst + 1], 1)] = pack(gsel(p.q, q + d, d < p.depth), gsel(p.q, q + d + 1, d + 1 < p.depth))
            scratch[np.stack([ddst, ddst + 1], 1)] = pack(gsel(dout, o + d, d < p.value_depth),
                                                          gsel(dout, o + d + 1, d + 1 < p.value_depth))
        else:
            r = row - q_rows
            j = r % p.k_seq
            bk = r // p.k_seq
            b, kvh = bk // p.kv_heads, bk % p.kv_heads
            k_end = p.k_seq
            if p.key_limit is not None:
                lim = int(p.key_limit[b])
                k_end = (0 if lim < 0 else lim) if lim < k_end else k_end
            keep = j < k_end and (p.key_valid is None or p.key_valid[b * p.k_seq + j] != 0)
            k = b * p.k_sb + kvh * p.k_sh + j * p.k_ss
            v = b * p.v_sb + kvh * p.v_sh + j * p.v_ss
            c = np.arange(kPairs)
            d = 2 * c
            kdst = kb + 2 * (r * kPairs + c)
            vdst = vb + 2 * (r * kPairs + c)
            scratch[np.stack([kdst, kdst + 1], 1)] = pack(gsel(p.k, k + d, keep & (d < p.depth)),
                                                          gsel(p.k, k + d + 1, keep & (d + 1 < p.depth)))
            scratch[np.stack([vdst, vdst + 1], 1)] = pack(gsel(p.v, v + d, keep & (d < p.value_depth)),
                                                          gsel(p.v, v + d + 1, keep & (d + 1 < p.value_depth)))


# ----------------------------------------------------------------------------------------------------
# AttentionBackwardBf16Kernel<DP, BR, W>
def main_kernel_block(p, DP, BR, W, bx, by, delta, scratch, l, dq, dk, dv, dmask, dk_cnt, dv_cnt, arch, mut,
                      reverse, report):
    kWarps, kThreads, kKeys = W, W * 32, 16 * W
    kP, kPS = DP + 8, BR + 8
    kKV, kQT, kDS = kKeys * kP, BR * kP, kKeys * kPS
    kHalves = 2 * kKV + 4 * kQT + kDS
    NT, KQ, ND, KD, RG = BR // 8, BR // 16, DP // 8, DP // 16, BR // 16
    CS = kWarps // RG
    NC = DP // CS
    kChunks = DP // 8
    assert NT % 2 == 0 and ND % 2 == 0 and (NC // 8) % 2 == 0 and RG * CS == kWarps

    H = Shared(kHalves, 'smem(bf16)')
    Fm = Shared(4 * BR, 'smem(f32)')
    cp = CpAsyncUnit(H, kWarps)
    ks, vs = 0, kKV                 # half offsets
    qs = vs + kKV
    dos = qs + 2 * kQT
    dss = dos + 2 * kQT
    nl2s, dls = 0, 2 * BR           # float offsets in Fm
    assert (2 * kHalves) % 8 == 0   # float2 loads of the f32 area stay 8-byte aligned
    qbo, dobo, kbo, vbo = l['q'] // 2, l['dout'] // 2, l['k'] // 2, l['v'] // 2
    q_rows_all = p.batch * p.heads * p.q_seq
    k_rows_all = p.batch * p.kv_heads * p.k_seq

    group = p.heads // p.kv_heads
    b, kvh = bx // p.kv_heads, bx % p.kv_heads
    key0 = by * kKeys
    view0 = make_head_view(p, b, kvh * group)
    if key0 >= view0.k_len:
        return
    q_len, k_len = view0.q_len, view0.k_len
    diag = k_len - q_len
    first_row = max(0, key0 - diag) if p.causal else 0
    if mut == 'first_row' and p.causal:
        first_row = max(0, key0 - diag + 1)
    n_tiles = (q_len - first_row + BR - 1) // BR if first_row < q_len else 0
    order = list(range(kWarps))[::-1] if reverse else list(range(kWarps))

    dk_acc = [np.zeros((ND, 32, 4), np.float32) for _ in range(kWarps)]
    dv_acc = [np.zeros((ND, 32, 4), np.float32) for _ in range(kWarps)]

    def src_block(base, rows_all, row, c8):
        off = row * DP + c8
        assert 0 <= row < rows_all and off + 8 <= rows_all * DP, "scratch read out of range"
        return scratch[base + off: base + off + 8]

    if key0 < view0.k_end and n_tiles > 0:
        n_it = group * n_tiles
        kv_row0 = (b * p.kv_heads + kvh) * p.k_seq + key0

        def issue(it, buf, w):
            h = kvh * group + it // n_tiles
            row0 = first_row + (it % n_tiles) * BR
            head_row0 = (b * p.heads + h) * p.q_seq
            qd = qs + buf * kQT
            dd = dos + buf * kQT
            for tid in range(32 * w, 32 * w + 32):
                for c in range(tid, BR * kChunks, kThreads):
                    r, c8 = c // kChunks, (c % kChunks) * 8
                    ok = row0 + r < q_len
                    cp.copy16(w, qd + r * kP + c8, src_block(qbo, q_rows_all, head_row0 + row0 + r, c8) if ok else None)
                    cp.copy16(w, dd + r * kP + c8, src_block(dobo, q_rows_all, head_row0 + row0 + r, c8) if ok else None)
            cp.commit(w)
            for tid in range(32 * w, 32 * w + 32):
                for r in range(tid, BR, kThreads):
                    i = row0 + r
                    ok = i < q_len
                    Fm.write([buf * BR + r], [-p.lse[head_row0 + i] * LOG2E if ok else np.inf], w)
                    Fm.write([dls + buf * BR + r], [delta[head_row0 + i] if ok else 0.0], w)

        lrow_a = (LANE & 7) + 8 * ((LANE >> 3) & 1)
        lcol_a = 8 * (LANE >> 4)
        lrow_b = (LANE & 7) + 8 * (LANE >> 4)
        lcol_b = 8 * ((LANE >> 3) & 1)
        if mut == 'lcol_b':
            lcol_b = 8 * (LANE >> 4)
        sl2 = F32(F32(p.scale) * LOG2E)
        if arch >= 900:
            dq_pairs = (p.depth % 2 == 0 and p.q_ss % 2 == 0 and p.q_sh % 2 == 0 and p.q_sb % 2 == 0)  # dq 8-byte aligned

        # Per-warp prologue: K, V copies, issue(0, 0), kdead.
        kdead = {}
        for w in order:
            for tid in range(32 * w, 32 * w + 32):
                for c in range(tid, kKeys * kChunks, kThreads):
                    r, c8 = c // kChunks, (c % kChunks) * 8
                    ok = key0 + r < k_len
                    cp.copy16(w, ks + r * kP + c8, src_block(kbo, k_rows_all, kv_row0 + r, c8) if ok else None)
                    cp.copy16(w, vs + r * kP + c8, src_block(vbo, k_rows_all, kv_row0 + r, c8) if ok else None)
            wk = w * 16
            kd_ = []
            for hh in range(2):
                j = key0 + wk + G + 8 * hh
                dead = j >= view0.k_end
                if p.key_valid is not None:  # read only where j < k_end (short-circuit ||)
                    assert (j[~dead] < p.k_seq).all()
                    dead = dead | np.where(dead, False, p.key_valid[b * p.k_seq + np.where(dead, 0, j)] == 0)
                kd_.append(dead)
            kdead[w] = kd_
            issue(0, 0, w)

        for it in range(n_it):
            buf = it & 1
            if mut == 'wait1':
                for w in order: cp.wait(w, 1)
            else:
                for w in order: cp.wait(w, 0)
            H.barrier(); Fm.barrier()
            h = kvh * group + it // n_tiles
            row0 = first_row + (it % n_tiles) * BR
            view = make_head_view(p, b, h)
            rbuf = buf ^ 1 if mut == 'buf' else buf
            q_base, do_base = 2 * (qs + rbuf * kQT), 2 * (dos + buf * kQT)  # bytes
            need_causal = p.causal and key0 + kKeys - 1 > row0 + diag
            # ---- interval A: everything up to the mid barrier
            for w in order:
                if it + 1 < n_it:
                    issue(it + 1, buf ^ 1, w)
                wk = w * 16
                k_a = 2 * (ks + (wk + lrow_a) * kP + lcol_a)
                v_a = 2 * (vs + (wk + lrow_a) * kP + lcol_a)
                qd_b = 2 * (lrow_b * kP + lcol_b)
                qd_t = 2 * (lrow_a * kP + lcol_a)
                ds_row0 = dss + (wk + G) * kPS   # halves; word x covers halves 2x, 2x + 1
                ds_row1 = dss + (wk + G + 8) * kPS
                sacc = np.zeros((NT, 32, 4), np.float32)
                pacc = np.zeros((NT, 32, 4), np.float32)
                for kd in range(KD):
                    ka = ldmatrix_x4(H, k_a + kd * 32, w, False)
                    va = ldmatrix_x4(H, v_a + kd * 32, w, False)
                    for n in range(0, NT, 2):
                        off = qd_b + 2 * (n * 8 * kP + kd * 16)
                        bq = ldmatrix_x4(H, q_base + off, w, False)
                        mma(sacc[n], ka, bq[:, 0], bq[:, 1])
                        mma(sacc[n + 1], ka, bq[:, 2], bq[:, 3])
                        bo = ldmatrix_x4(H, do_base + off, w, False)
                        mma(pacc[n], va, bo[:, 0], bo[:, 1])
                        mma(pacc[n + 1], va, bo[:, 2], bo[:, 3])
                nl2b = nl2s + (buf ^ 1 if mut == 'nl_buf' else buf) * BR
                dlb = dls + buf * BR
                for n in range(NT):
                    ia = nl2b + 8 * n + 2 * T
                    assert (ia % 2 == 0).all() and ((dlb + 8 * n + 2 * T) % 2 == 0).all()  # float2 loads
                    nl = Fm.read(np.stack([ia, ia + 1], 1), w).reshape(32, 2)
                    dl = Fm.read(np.stack([dlb + 8 * n + 2 * T, dlb + 8 * n + 2 * T + 1], 1), w).reshape(32, 2)
                    for e in range(4):
                        hh = e >> 1
                        i = row0 + 8 * n + 2 * T + (e & 1)
                        j = key0 + wk + G + 8 * hh
                        nlv = nl[:, e & 1]
                        dlv = dl[:, e & 1]
                        hidden = kdead[w][hh] | (nlv == np.inf)
                        if need_causal:
                            hidden = hidden | (j > i + diag)
                        bias = nlv.copy()
                        if p.mask_kind != 0:
                            sel = ~hidden
                            at = mask_offset(p, b, h, i, j)
                            if sel.any():
                                assert at[sel].min() >= 0 and at[sel].max() < p.mask.size, "mask read out of range"
                            if p.mask_kind == 1:
                                mv = np.where(sel, p.mask[np.where(sel, at, 0)], 1)
                                hidden = np.where(sel, mv == 0, hidden)
                            else:
                                m = np.where(sel, p.mask[np.where(sel, at, 0)], 0).astype(np.float32)
                                hidden = np.where(sel, m == -np.inf, hidden)
                                bias = np.where(sel, fmaf(m, LOG2E, nlv), bias)
                        pe = np.where(hidden, F32(0), exp2_ftz(fmaf(sacc[n][:, e], sl2, bias))).astype(np.float32)
                        with np.errstate(invalid='ignore'):
                            ds = np.where(pe == 0, F32(0), (pe * (pacc[n][:, e] - dlv).astype(np.float32))).astype(np.float32)
                        if dmask is not None:
                            s2 = pe != 0
                            np.add.at(dmask, mask_offset(p, b, h, i, j)[s2], ds[s2])
                        sacc[n][:, e] = pe
                        pacc[n][:, e] = ds
                pa = np.zeros((KQ, 32, 4, 2), np.float32)
                da = np.zeros((KQ, 32, 4, 2), np.float32)
                for kk in range(KQ):
                    pa[kk][:, 0] = pack(sacc[2 * kk][:, 0], sacc[2 * kk][:, 1])
                    pa[kk][:, 1] = pack(sacc[2 * kk][:, 2], sacc[2 * kk][:, 3])
                    pa[kk][:, 2] = pack(sacc[2 * kk + 1][:, 0], sacc[2 * kk + 1][:, 1])
                    if mut == 'pa_swap':
                        pa[kk][:, [1, 2]] = pa[kk][:, [2, 1]]
                    pa[kk][:, 3] = pack(sacc[2 * kk + 1][:, 2], sacc[2 * kk + 1][:, 3])
                    da[kk][:, 0] = pack(pacc[2 * kk][:, 0], pacc[2 * kk][:, 1])
                    da[kk][:, 1] = pack(pacc[2 * kk][:, 2], pacc[2 * kk][:, 3])
                    da[kk][:, 2] = pack(pacc[2 * kk + 1][:, 0], pacc[2 * kk + 1][:, 1])
                    da[kk][:, 3] = pack(pacc[2 * kk + 1][:, 2], pacc[2 * kk + 1][:, 3])

                    def st(row, word, reg):  # 32-bit store of a bf16x2 register
                        a = row + 2 * word
                        H.write(np.stack([a, a + 1], 1), reg, w)
                    st(ds_row0, 8 * kk + T, da[kk][:, 0])
                    st(ds_row1, 8 * kk + T, da[kk][:, 1])
                    st(ds_row0, 8 * kk + 4 + T, da[kk][:, 3] if mut == 'ds_word' else da[kk][:, 2])
                    st(ds_row1, 8 * kk + 4 + T, da[kk][:, 2] if mut == 'ds_word' else da[kk][:, 3])
                for kk in range(KQ):
                    for nd in range(0, ND, 2):
                        off = qd_t + 2 * (16 * kk * kP + 8 * nd)
                        bo = ldmatrix_x4(H, do_base + off, w, True)
                        mma(dv_acc[w][nd], pa[kk], bo[:, 0], bo[:, 1])
                        mma(dv_acc[w][nd + 1], pa[kk], bo[:, 2], bo[:, 3])
                        bq = ldmatrix_x4(H, q_base + off, w, True)
                        mma(dk_acc[w][nd], da[kk], bq[:, 0], bq[:, 1])
                        mma(dk_acc[w][nd + 1], da[kk], bq[:, 2], bq[:, 3])
            if mut != 'nosync':
                H.barrier(); Fm.barrier()
            # ---- interval B: dQ = dS·K and the atomics
            for w in order:
                wr, wc = w % RG, w // RG
                ds_a = 2 * (dss + lrow_b * kPS + 16 * wr + lcol_b)
                k_t = 2 * (ks + lrow_a * kP + wc * NC + lcol_a)
                qacc = np.zeros((NC // 8, 32, 4), np.float32)
                for kk in range(kKeys // 16):
                    a = ldmatrix_x4(H, ds_a + 2 * (16 * kk * kPS), w, True)
                    for n in range(0, NC // 8, 2):
                        bk = ldmatrix_x4(H, k_t + 2 * (16 * kk * kP + 8 * n), w, True)
                        mma(qacc[n], a, bk[:, 0], bk[:, 1])
                        mma(qacc[n + 1], a, bk[:, 2], bk[:, 3])
                for n in range(NC // 8):
                    for hh in range(2):
                        i = row0 + 16 * wr + G + 8 * hh
                        d = wc * NC + 8 * n + 2 * T
                        live = ~((i >= q_len) | (d >= p.depth))
                        at = view.q_base + i * p.q_ss + d
                        v0 = (qacc[n][:, 2 * hh] * F32(p.scale)).astype(np.float32)
                        v1 = (qacc[n][:, 2 * hh + 1] * F32(p.scale)).astype(np.float32)
                        if arch >= 900 and dq_pairs:
                            STATS['pairs'] += 1
                            s = live & ((v0 != 0) | (v1 != 0))
                            assert (at[s] % 2 == 0).all(), "float2 atomic not 8-byte aligned"
                            assert (d[s] + 1 < p.depth).all()
                            np.add.at(dq, at[s], v0[s]); np.add.at(dq, at[s] + 1, v1[s])
                            continue
                        s0 = live & (v0 != 0)
                        s1 = live & (v1 != 0) & (d + 1 < p.depth)
                        np.add.at(dq, at[s0], v0[s0]); np.add.at(dq, at[s1] + 1, v1[s1])
        # loop exit: every group retired?
        if cp.pending():
            report.append(f"block ({bx},{by}): {cp.pending()} cp.async groups/ops never waited")
        for sm in (H, Fm):
            report.extend(f"block ({bx},{by}) {r}" for r in sm.races)

    for w in order:
        wk = w * 16
        for hh in range(2):
            j = key0 + wk + G + 8 * hh
            for n in range(ND):
                for e in range(2):
                    d = 8 * n + 2 * T + e
                    live = j < k_len
                    sk = live & (d < p.depth)
                    sv = live & (d < p.value_depth)
                    atk = view0.k_base + j * p.k_ss + d
                    atv = view0.v_base + j * p.v_ss + d
                    dk[atk[sk]] = (dk_acc[w][n][:, 2 * hh + e] * F32(p.scale)).astype(np.float32)[sk]
                    dv[atv[sv]] = dv_acc[w][n][:, 2 * hh + e][sv]
                    np.add.at(dk_cnt, atk[sk], 1)
                    np.add.at(dv_cnt, atv[sv], 1)


# ----------------------------------------------------------------------------------------------------
def strided(rng, B, Hn, S, D, lay, fill):
    """A [B, Hn, S, D] tensor in a strided buffer: 'bhsd' (rows padded by 2) or 'bshd' (packed-like)."""
    if lay == 'bhsd':
        ss = D + 2; sh = S * ss; sb = Hn * sh; size = B * sb
    else:  # 'bshd'
        sh = D + 1; ss = Hn * sh + 3; sb = S * ss; size = B * sb
    idx = (np.arange(B)[:, None, None, None] * sb + np.arange(Hn)[None, :, None, None] * sh +
           np.arange(S)[None, None, :, None] * ss + np.arange(D)[None, None, None, :])
    buf = np.full(size, np.nan, np.float32)
    if fill is not None:
        buf[idx] = fill
    return buf, (sb, sh, ss), idx


def run_case(name, B, Hq, Hkv, Sq, Sk, D, Dv, causal, mask=None, key_limit=None, key_valid=None, lay='bhsd',
             arch=800, mut=None, reverse=False, seed=0, empty_mask_row=None):
    t0 = time.time()
    rng = np.random.default_rng(seed)
    q = rng.standard_normal((B, Hq, Sq, D)).astype(np.float32)
    k = rng.standard_normal((B, Hkv, Sk, D)).astype(np.float32)
    v = rng.standard_normal((B, Hkv, Sk, Dv)).astype(np.float32)
    do = rng.standard_normal((B, Hq, Sq, Dv)).astype(np.float32)
    scale = 1 / math.sqrt(D)
    group = Hq // Hkv
    diag = Sk - Sq
    # visibility and the additive term
    vis = np.ones((B, Hq, Sq, Sk), bool)
    ii, jj = np.arange(Sq)[:, None], np.arange(Sk)[None, :]
    if causal:
        vis &= ~(jj > ii + diag)
    k_end = np.full(B, Sk)
    if key_limit is not None:
        k_end = np.clip(np.minimum(np.asarray(key_limit), Sk), 0, None)
        vis &= (np.arange(Sk)[None, None, None, :] < k_end[:, None, None, None])
    if key_valid is not None:
        vis &= (np.asarray(key_valid).reshape(B, 1, 1, Sk) != 0)
    add = np.zeros((B, Hq, Sq, Sk))
    mask_kind, mask_buf, mstr = 0, None, (0, 0, 0, 0)
    if mask is not None:
        kind, shape = mask  # shape: broadcast shape of [B, H, Sq, Sk]
        full = [B, Hq, Sq, Sk]
        st, acc = [0] * 4, 1
        for dim in range(3, -1, -1):
            if shape[dim] != 1:
                st[dim] = acc; acc *= shape[dim]
        mstr = tuple(st)
        if kind == 'add':
            mv = rng.standard_normal(shape).astype(np.float32)
            mv[rng.random(shape) < 0.1] = -np.inf
            mask_kind = 2
        else:
            mv = (rng.random(shape) > 0.2).astype(np.uint8)
            mask_kind = 1
        if empty_mask_row is not None:  # a row hidden by the mask alone
            sl = tuple(0 if shape[dim] == 1 else empty_mask_row[dim] for dim in range(3)) + (slice(None),)
            mv[sl] = -np.inf if kind == 'add' else 0
        mask_buf = mv.ravel().copy()
        mb = np.broadcast_to(mv, full)
        if kind == 'add':
            vis &= mb != -np.inf
            add = np.where(vis, mb.astype(np.float64), 0)
        else:
            vis &= mb != 0
    # dead keys hold NaN in k and v: the pre-pass must zero them
    kdead = np.zeros((B, Sk), bool)
    kdead |= np.arange(Sk)[None, :] >= k_end[:, None]
    if key_valid is not None:
        kdead |= np.asarray(key_valid).reshape(B, Sk) == 0
    k_in = k.copy(); v_in = v.copy()
    k_in[np.broadcast_to(kdead[:, None, :, None], k.shape)] = np.nan
    v_in[np.broadcast_to(kdead[:, None, :, None], v.shape)] = np.nan
    # float64 reference forward/backward
    kh = np.repeat(np.where(kdead[:, None, :, None], 0, k).astype(np.float64), group, axis=1)
    vh = np.repeat(np.where(kdead[:, None, :, None], 0, v).astype(np.float64), group, axis=1)
    q64, do64 = q.astype(np.float64), do.astype(np.float64)
    s = scale * np.einsum('bhid,bhjd->bhij', q64, kh) + add
    s = np.where(vis, s, -np.inf)
    mx = s.max(-1, keepdims=True)
    mxf = np.where(np.isfinite(mx), mx, 0)
    e = np.where(vis, np.exp(s - mxf), 0)
    den = e.sum(-1, keepdims=True)
    P = e / np.where(den > 0, den, 1)
    out = np.einsum('bhij,bhjd->bhid', P, vh)
    lse = np.where(den[..., 0] > 0, np.log(np.where(den[..., 0] > 0, den[..., 0], 1)) + mxf[..., 0], -np.inf)
    out32 = out.astype(np.float32)
    dP = np.einsum('bhid,bhjd->bhij', do64, vh)
    delta_ref = (do64 * out32.astype(np.float64)).sum(-1, keepdims=True)
    dS = P * (dP - delta_ref)
    dq_ref = scale * np.einsum('bhij,bhjd->bhid', dS, kh)
    dk_ref = (scale * np.einsum('bhij,bhid->bhjd', dS, q64)).reshape(B, Hkv, group, Sk, D).sum(2)
    dv_ref = np.einsum('bhij,bhid->bhjd', P, do64).reshape(B, Hkv, group, Sk, Dv).sum(2)
    # Second, tight reference: the kernel's roundings mirrored in float64 (bf16 q, k, v, dout; P and dS
    # rounded to bf16 as mma operands; the given fp32 lse). Only fp32 accumulation order and rare bf16
    # rounding flips of P / dS separate it from the emulation, so a row-wise check can be tight
    # enough to see a single misplaced or dropped element.
    def rb(x):
        return bf16(x.astype(np.float32)).astype(np.float64)
    qm, dom = rb(q), rb(do)
    km = np.repeat(rb(np.where(kdead[:, None, :, None], 0, k)), group, axis=1)
    vm = np.repeat(rb(np.where(kdead[:, None, :, None], 0, v)), group, axis=1)
    lse32 = lse.astype(np.float32).astype(np.float64)
    sm_ = scale * np.einsum('bhid,bhjd->bhij', qm, km) + add - np.where(np.isfinite(lse32), lse32, 0)[..., None]
    Pm = np.where(vis, np.exp(np.where(vis, sm_, 0)), 0)
    dSm = Pm * (np.einsum('bhid,bhjd->bhij', dom, vm) - delta_ref)
    Pmb, dSmb = rb(Pm), rb(dSm)
    mir = {'dq': scale * np.einsum('bhij,bhjd->bhid', dSmb, km),
           'dk': (scale * np.einsum('bhij,bhid->bhjd', dSmb, qm)).reshape(B, Hkv, group, Sk, D).sum(2),
           'dv': np.einsum('bhij,bhid->bhjd', Pmb, dom).reshape(B, Hkv, group, Sk, Dv).sum(2)}
    dmask_ref = None
    if mask_kind == 2:
        dmask_ref = np.zeros(mask_buf.size)
        offs = (np.arange(B)[:, None, None, None] * mstr[0] + np.arange(Hq)[None, :, None, None] * mstr[1] +
                np.arange(Sq)[None, None, :, None] * mstr[2] + np.arange(Sk)[None, None, None, :] * mstr[3])
        np.add.at(dmask_ref, offs[vis], dS[vis])
        mir['dmask'] = np.zeros(mask_buf.size)
        np.add.at(mir['dmask'], offs[vis], dSm[vis])

    # kernel inputs
    p = Params()
    p.batch, p.heads, p.kv_heads, p.q_seq, p.k_seq, p.depth, p.value_depth = B, Hq, Hkv, Sq, Sk, D, Dv
    p.scale = F32(scale); p.causal = causal
    p.q, (p.q_sb, p.q_sh, p.q_ss), qidx = strided(rng, B, Hq, Sq, D, lay, q)
    p.k, (p.k_sb, p.k_sh, p.k_ss), kidx = strided(rng, B, Hkv, Sk, D, lay, k_in)
    p.v, (p.v_sb, p.v_sh, p.v_ss), vidx = strided(rng, B, Hkv, Sk, Dv, lay, v_in)
    p.out, (p.o_sb, p.o_sh, p.o_ss), oidx = strided(rng, B, Hq, Sq, Dv, lay, out32)
    dout, _, _ = strided(rng, B, Hq, Sq, Dv, lay, do)
    p.lse = lse.astype(np.float32).ravel()
    p.mask_kind, p.mask, p.mask_strides = mask_kind, mask_buf, mstr
    p.key_limit = None if key_limit is None else np.asarray(key_limit, np.int32)
    p.key_valid = None if key_valid is None else np.asarray(key_valid, np.uint8).ravel()

    DP = padded_depth(D, Dv)
    BR = 64 if DP <= 64 else 32
    W = 8
    l = layout(p)
    scratch = np.full(l['total'] // 2, np.nan, np.float32)
    delta = np.full(B * Hq * Sq, np.nan, np.float32)
    convert_kernel(p, DP, dout, delta, scratch, l)
    dq = np.zeros(p.q.size, np.float32)           # zero on entry (contract)
    dk = np.full(p.k.size, 7.0, np.float32)        # sentinel: must be overwritten exactly where the view is
    dv = np.full(p.v.size, 7.0, np.float32)
    dk_cnt = np.zeros(p.k.size, np.int32); dv_cnt = np.zeros(p.v.size, np.int32)
    dmask = np.zeros(mask_buf.size, np.float32) if mask_kind == 2 else None
    report = []
    STATS['pairs'] = 0
    try:
        for bx in range(B * Hkv):
            for by in range((Sk + 16 * W - 1) // (16 * W)):
                main_kernel_block(p, DP, BR, W, bx, by, delta, scratch, l, dq, dk, dv, dmask, dk_cnt, dv_cnt, arch,
                                  mut, reverse, report)
    except (AssertionError, IndexError) as ex:
        report.append(f"kernel emulation stopped: {type(ex).__name__} {ex}")

    def rel(a, r):
        return np.linalg.norm(a - r) / max(np.linalg.norm(r), 1e-30)
    errs = {'dq': rel(dq[qidx], dq_ref), 'dk': rel(dk[kidx], dk_ref), 'dv': rel(dv[vidx], dv_ref)}
    if dmask is not None:
        errs['dmask'] = rel(dmask, dmask_ref)
    problems = list(report)
    for nm, buf, idx in (('dq', dq, qidx), ('dk', dk, kidx), ('dv', dv, vidx)):
        if np.isnan(buf[idx]).any():
            problems.append(f"{nm} has NaN")
        gap = np.ones(buf.size, bool); gap[idx.ravel()] = False
        if nm == 'dq' and (buf[gap] != 0).any():
            problems.append("dq written outside its view")
        if nm != 'dq' and (buf[gap] != 7.0).any():
            problems.append(f"{nm} written outside its view")
    if (dk_cnt[kidx] != 1).any() or (dv_cnt[vidx] != 1).any():
        problems.append(f"dk/dv element stores not exactly once (min {min(dk_cnt[kidx].min(), dv_cnt[vidx].min())}, "
                        f"max {max(dk_cnt[kidx].max(), dv_cnt[vidx].max())})")
    # dead keys and rows that see nothing: exact zeros
    if kdead.any() and (np.abs(dk[kidx][np.broadcast_to(kdead[:, None, :, None], dk_ref.shape)]).max() != 0 or
                        np.abs(dv[vidx][np.broadcast_to(kdead[:, None, :, None], dv_ref.shape)]).max() != 0):
        problems.append("dead keys have nonzero dk/dv")
    empty_rows = ~vis.any(-1)
    if empty_rows.any() and np.abs(dq[qidx][empty_rows]).max() != 0:
        problems.append("rows with no visible key have nonzero dq")
    dlt = np.abs(delta.reshape(B, Hq, Sq) - delta_ref[..., 0]).max()
    # Row-wise against the mirrored reference: ||row - ref|| / max(||ref||, 0.05·rms row norm).
    rowerr = {}
    for nm, buf, idx in (('dq', dq, qidx), ('dk', dk, kidx), ('dv', dv, vidx)):
        r = mir[nm]
        with np.errstate(invalid='ignore'):
            num = np.linalg.norm(buf[idx] - r, axis=-1)
        den = np.linalg.norm(r, axis=-1)
        floor = 0.05 * max(np.sqrt(np.mean(den ** 2)), 1e-30)
        rowerr[nm] = np.nanmax(np.where(np.isnan(num), np.inf, num / np.maximum(den, floor)))
    if dmask is not None:  # element-wise: max |error| / rms of the mirrored dmask
        rowerr['dmask'] = np.abs(dmask - mir['dmask']).max() / max(np.sqrt(np.mean(mir['dmask'] ** 2)), 1e-30)
    if max(rowerr.values()) > 2e-2:
        problems.append("row-wise mismatch against the rounding-mirrored reference: " +
                        ' '.join(f"{k_} {v_:.1e}" for k_, v_ in rowerr.items()))
    ok = all(x <= 2e-2 for x in errs.values()) and not problems and dlt < 1e-4
    es = ' '.join(f"{k_} {v_:.2e}" for k_, v_ in errs.items())
    print(f"{'OK  ' if ok else 'FAIL'} {name}: DP={DP} BR={BR} arch=sm_{arch // 10} {'rev' if reverse else 'fwd'} "
          f"mut={mut}: {es}, row-wise vs mirrored max {max(rowerr.values()):.1e}, delta {dlt:.1e}, empty rows {int(empty_rows.sum())}, dead keys {int(kdead.sum())} "
          f"{'float2-atomics ' if STATS['pairs'] else ''}[{time.time() - t0:.0f}s]")
    for pr in problems[:6]:
        print('      ', pr)
    return ok


CASES = [
    # name, kwargs
    ('dp32 plain Sq<Sk', dict(B=1, Hq=1, Hkv=1, Sq=70, Sk=150, D=32, Dv=32, causal=False)),
    ('dp32 causal GQA Sq>Sk (empty rows) bshd', dict(B=2, Hq=4, Hkv=2, Sq=150, Sk=90, D=24, Dv=20, causal=True,
                                                  lay='bshd')),
    ('dp64 D24/Dv40 causal GQA additive mask [B,1,Sq,Sk]', dict(B=2, Hq=4, Hkv=2, Sq=100, Sk=200, D=24, Dv=40, causal=True,
                                                                mask=('add', (2, 1, 100, 200)), empty_mask_row=(1, 0, 37))),
    ('dp64 key_limit/key_valid odd dims', dict(B=2, Hq=2, Hkv=1, Sq=130, Sk=70, D=63, Dv=64, causal=False,
                                               key_limit=[50, 0], key_valid=np.r_[np.ones(70), (np.arange(70) % 7 != 3)].astype(np.uint8), lay='bshd')),
    ('dp64 causal Sq=Sk', dict(B=1, Hq=2, Hkv=2, Sq=150, Sk=150, D=64, Dv=64, causal=True, key_limit=[140])),
    ('dp128 causal GQA additive mask [1,H,1,Sk]', dict(B=1, Hq=4, Hkv=2, Sq=45, Sk=150, D=128, Dv=128, causal=True,
                                                     mask=('add', (1, 4, 1, 150)))),
    ('dp128 D100/Dv128 bool mask Sq>Sk', dict(B=1, Hq=2, Hkv=1, Sq=90, Sk=40, D=100, Dv=128, causal=False,
                                             mask=('bool', (1, 1, 90, 40)), empty_mask_row=(0, 0, 5))),
    ('dp128 causal key_valid Sq<Sk', dict(B=2, Hq=2, Hkv=2, Sq=40, Sk=170, D=128, Dv=96, causal=True,
                                          key_valid=(np.random.default_rng(5).random(340) > 0.15).astype(np.uint8))),
]


if __name__ == '__main__':
    import argparse
    ap = argparse.ArgumentParser()
    ap.add_argument('--mut', default=None, help="negative control: lcol_b | buf | nl_buf | ds_word | pa_swap | first_row | wait1 | nosync")
    ap.add_argument('--cases', default=None, help="comma-separated case indices")
    ap.add_argument('--arch', default='800,900')
    a = ap.parse_args()
    idxs = range(len(CASES)) if a.cases is None else [int(x) for x in a.cases.split(',')]
    archs = [int(x) for x in a.arch.split(',')]
    allok = True
    for ci in idxs:
        name, kw = CASES[ci]
        for ai, arch in enumerate(archs):
            allok &= run_case(name, arch=arch, mut=a.mut, reverse=(ai % 2 == 1), seed=ci, **kw)
    print('ALL OK' if allok else 'SOME FAILED')
    sys.exit(0 if allok else 1)
