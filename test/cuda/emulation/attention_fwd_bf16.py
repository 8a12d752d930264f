"""Warp-level emulation of kernels/cuda/attention_fwd_bf16.cu's fragment indexing (ldmatrix lane
addresses, mma.sync m16n8k16 layouts, P from accumulators) for one (batch, head), compared with a
float64 reference. Checks index math only (no pipeline/sync emulation)."""
import math
import sys

import numpy as np


def bf16(x):
    x = np.asarray(x, np.float32)
    b = x.view(np.uint32).astype(np.uint64)
    b = ((b + 0x7FFF + ((b >> 16) & 1)) >> 16) << 16
    return b.astype(np.uint32).view(np.float32)


def ldmatrix_x4(arr, addr, trans):
    """addr(lane) -> (row, col) in arr. Returns regs[lane][m] = (lo, hi)."""
    mats = []
    for m in range(4):
        rows = []
        for r in range(8):
            row, col = addr(8 * m + r)
            rows.append(arr[row, col:col + 8])
        mats.append(np.array(rows))
    regs = []
    for lane in range(32):
        g, t = lane // 4, lane % 4
        rr = []
        for m in range(4):
            M = mats[m]
            if trans:
                rr.append((M[2 * t, g], M[2 * t + 1, g]))
            else:
                rr.append((M[g, 2 * t], M[g, 2 * t + 1]))
        regs.append(rr)
    return regs


def mma(c, a, b0, b1):
    """c[lane][4], a[lane][4 pairs], b0[lane] pair, b1[lane] pair; D = A·B + C (fp32-ish in float64)."""
    A = np.zeros((16, 16)); B = np.zeros((16, 8)); C = np.zeros((16, 8))
    for lane in range(32):
        g, t = lane // 4, lane % 4
        A[g, 2 * t:2 * t + 2] = a[lane][0]; A[g + 8, 2 * t:2 * t + 2] = a[lane][1]
        A[g, 2 * t + 8:2 * t + 10] = a[lane][2]; A[g + 8, 2 * t + 8:2 * t + 10] = a[lane][3]
        B[2 * t:2 * t + 2, g] = b0[lane]; B[2 * t + 8:2 * t + 10, g] = b1[lane]
        C[g, 2 * t], C[g, 2 * t + 1], C[g + 8, 2 * t], C[g + 8, 2 * t + 1] = c[lane]
    D = A @ B + C
    for lane in range(32):
        g, t = lane // 4, lane % 4
        c[lane] = [D[g, 2 * t], D[g, 2 * t + 1], D[g + 8, 2 * t], D[g + 8, 2 * t + 1]]


def run(DP, depth, q_len, k_len, causal, seed):
    rng = np.random.default_rng(seed)
    kMT = 2 if DP == 32 else 1
    kRows, kKeys, pitch = 4 * 16 * kMT, 64, DP + 8
    q = rng.standard_normal((q_len, depth)).astype(np.float32)
    k = rng.standard_normal((k_len, depth)).astype(np.float32)
    v = rng.standard_normal((k_len, depth)).astype(np.float32)
    scale = 1 / math.sqrt(depth)
    log2e = 1.4426950408889634
    qb, kb_, vb_ = (np.pad(bf16(x), ((0, 0), (0, DP - depth))) for x in (q, k, v))
    out = np.full((q_len, depth), np.nan); lse = np.full(q_len, np.nan)
    diag = k_len - q_len
    nblocks = (q_len + kRows - 1) // kRows
    for blk in range(nblocks):
        row0 = blk * kRows
        row_last = min(row0 + kRows, q_len) - 1
        key_end = min(k_len, row_last + diag + 1) if causal else k_len
        key_end = max(key_end, 0)
        tiles = (key_end + kKeys - 1) // kKeys
        qs = np.zeros((kRows, pitch), np.float32)
        for r in range(kRows):
            if row0 + r < q_len: qs[r, :DP] = qb[row0 + r]
        for warp in range(4):
            warp_row = warp * 16 * kMT
            oacc = [[[[0.0] * 4 for _ in range(32)] for _ in range(DP // 8)] for _ in range(kMT)]
            m = [[[-math.inf] * 2 for _ in range(32)] for _ in range(kMT)]
            l = [[[0.0] * 2 for _ in range(32)] for _ in range(kMT)]
            qa = [[ldmatrix_x4(qs, lambda lane, mt=mt, kk=kk: (warp_row + mt * 16 + (lane & 15), kk * 16 + (lane >> 4) * 8), False)
                   for kk in range(DP // 16)] for mt in range(kMT)]
            for tile in range(tiles):
                key0 = tile * kKeys
                ks = np.zeros((kKeys, pitch), np.float32); vs = np.zeros((kKeys, pitch), np.float32)
                for r in range(kKeys):
                    if key0 + r < k_len: ks[r, :DP] = kb_[key0 + r]; vs[r, :DP] = vb_[key0 + r]
                sacc = [[[[0.0] * 4 for _ in range(32)] for _ in range(kKeys // 8)] for _ in range(kMT)]
                for kk in range(DP // 16):
                    for np_ in range(kKeys // 16):
                        kb = ldmatrix_x4(ks, lambda lane: (np_ * 16 + (lane & 7) + ((lane >> 4) << 3), kk * 16 + ((lane >> 3) & 1) * 8), False)
                        for mt in range(kMT):
                            a = [qa[mt][kk][lane] for lane in range(32)]
                            mma(sacc[mt][2 * np_], a, [kb[l_][0] for l_ in range(32)], [kb[l_][1] for l_ in range(32)])
                            mma(sacc[mt][2 * np_ + 1], a, [kb[l_][2] for l_ in range(32)], [kb[l_][3] for l_ in range(32)])
                for mt in range(kMT):
                    for half in range(2):
                        tmax = [-math.inf] * 32
                        for lane in range(32):
                            g, t = lane // 4, lane % 4
                            i = row0 + warp_row + mt * 16 + g + 8 * half
                            for n in range(kKeys // 8):
                                for c in range(2):
                                    j = key0 + n * 8 + 2 * t + c
                                    hidden = i >= q_len or j >= k_len or (causal and j > i + diag)
                                    s = sacc[mt][n][lane][half * 2 + c]
                                    s = -math.inf if hidden else s * scale * log2e
                                    sacc[mt][n][lane][half * 2 + c] = s
                                    tmax[lane] = max(tmax[lane], s)
                        qmax = [max(tmax[(lane // 4) * 4 + x] for x in range(4)) for lane in range(32)]
                        for lane in range(32):
                            m_new = max(m[mt][lane][half], qmax[lane])
                            ref = 0.0 if m_new == -math.inf else m_new
                            alpha = 2.0 ** (m[mt][lane][half] - ref)
                            rs = 0.0
                            for n in range(kKeys // 8):
                                for c in range(2):
                                    p = 2.0 ** (sacc[mt][n][lane][half * 2 + c] - ref)
                                    sacc[mt][n][lane][half * 2 + c] = p
                                    rs += p
                            l[mt][lane][half] = l[mt][lane][half] * alpha + rs
                            m[mt][lane][half] = m_new
                            for n in range(DP // 8):
                                oacc[mt][n][lane][half * 2] *= alpha
                                oacc[mt][n][lane][half * 2 + 1] *= alpha
                for kc in range(kKeys // 16):
                    pa = [[None] * 32 for _ in range(kMT)]
                    for mt in range(kMT):
                        for lane in range(32):
                            S0 = sacc[mt][2 * kc][lane]; S1 = sacc[mt][2 * kc + 1][lane]
                            pa[mt][lane] = [tuple(bf16([S0[0], S0[1]])), tuple(bf16([S0[2], S0[3]])),
                                            tuple(bf16([S1[0], S1[1]])), tuple(bf16([S1[2], S1[3]]))]
                    for nd in range(DP // 16):
                        vb = ldmatrix_x4(vs, lambda lane: (kc * 16 + (lane & 7) + ((lane >> 3) & 1) * 8, nd * 16 + (lane >> 4) * 8), True)
                        for mt in range(kMT):
                            mma(oacc[mt][2 * nd], pa[mt], [vb[l_][0] for l_ in range(32)], [vb[l_][1] for l_ in range(32)])
                            mma(oacc[mt][2 * nd + 1], pa[mt], [vb[l_][2] for l_ in range(32)], [vb[l_][3] for l_ in range(32)])
            for mt in range(kMT):
                for half in range(2):
                    for lane in range(32):
                        g, t = lane // 4, lane % 4
                        ssum = sum(l[mt][(lane // 4) * 4 + x][half] for x in range(4))
                        i = row0 + warp_row + mt * 16 + g + 8 * half
                        if i >= q_len: continue
                        empty = m[mt][lane][half] == -math.inf and ssum == 0
                        inv = 0 if empty else 1 / ssum
                        for n in range(DP // 8):
                            for c in range(2):
                                d = n * 8 + 2 * t + c
                                if d < depth: out[i, d] = 0 if empty else oacc[mt][n][lane][half * 2 + c] * inv
                        if t == 0:
                            lse[i] = -math.inf if empty else (m[mt][lane][half] + math.log2(ssum)) * math.log(2)
    # float64 reference
    s = (q.astype(np.float64) @ k.astype(np.float64).T) * scale
    if causal:
        ii, jj = np.meshgrid(np.arange(q_len), np.arange(k_len), indexing='ij')
        s = np.where(jj > ii + diag, -np.inf, s)
    mx = s.max(axis=1, keepdims=True)
    e = np.exp(s - np.where(np.isfinite(mx), mx, 0))
    den = e.sum(axis=1, keepdims=True)
    ref = np.where(den > 0, e @ v.astype(np.float64) / np.where(den > 0, den, 1), 0)
    ref_lse = np.where(den[:, 0] > 0, np.log(np.where(den[:, 0] > 0, den[:, 0], 1)) + np.where(np.isfinite(mx[:, 0]), mx[:, 0], 0), -np.inf)
    err = np.linalg.norm(out - ref) / max(np.linalg.norm(ref), 1e-30)
    fin = np.isfinite(ref_lse)
    lerr = np.abs(lse[fin] - ref_lse[fin]).max() if fin.any() else 0
    ok = err < 2e-2 and lerr < 1e-2 and not np.isnan(out).any() and np.all(lse[~fin] == -np.inf)
    print(f"DP={DP} depth={depth} Sq={q_len} Sk={k_len} causal={causal}: rel err {err:.2e}, lse err {lerr:.2e} {'OK' if ok else 'FAIL'}")
    return ok


if __name__ == '__main__':
    cases = [(32, 24, 70, 130, False), (32, 32, 40, 20, True), (64, 64, 65, 100, True), (64, 40, 20, 64, False),
             (128, 128, 30, 70, False), (128, 96, 70, 50, True)]
    ok = all(run(*c, seed=i) for i, c in enumerate(cases))
    sys.exit(0 if ok else 1)
