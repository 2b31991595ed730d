// Work schedules of decode attention: LeanAttention's even ("stream-K") split of the
// (batch·head, KV-tile) iteration space, FlashDecoding's fixed split per head, and the tile
// sizes both use. Pure integer arithmetic, testable without running a kernel.
//
// Legend: B batch, H heads (query = KV heads: no GQA), N context tokens, d head dim,
// bn tokens per LeanTile, nb = ⌈N/bn⌉ tiles per head, T = B·H·nb tiles in all, G workers
// (CTAs on a GPU, threads here). Tiles are numbered gid = (b·H + h)·nb + t: batch outermost,
// then head, then context tile (../shared/papers/leanattention.md §2.3).

/// Tokens per LeanTile for head dim `d`: 256 if d ≤ 64, 128 if d ≤ 128, else 64. These are
/// FlashAttention-2's split-KV block sizes, which LeanAttention's reference code uses; at
/// fp16 a tile of K and V is 2·bn·d·2 B = 64 KiB for both d = 64 and d = 128.
public func leanTileTokens(headDim d: Int) -> Int {
    precondition(d > 0, "head dim must be positive")
    return d <= 64 ? 256 : d <= 128 ? 128 : 64
}

/// ⌈a / b⌉ for a ≥ 0, b > 0.
@inline(__always) public func ceilDiv(_ a: Int, _ b: Int) -> Int { (a + b - 1) / b }

/// One contiguous piece of a worker's tile range that lies inside one head.
public struct LeanSegment: Equatable, Sendable {
    /// Row (b·H + h) the tiles belong to.
    public var head: Int
    /// Tiles of that head, 0..<nb numbering.
    public var tiles: Range<Int>
    /// The segment holds the head's first tile: this worker reduces the head and writes it.
    public var isHost: Bool
    /// The segment holds the head's last tile.
    public var isFinishing: Bool

    public init(head: Int, tiles: Range<Int>, isHost: Bool, isFinishing: Bool) {
        self.head = head; self.tiles = tiles; self.isHost = isHost; self.isFinishing = isFinishing
    }
}

/// LeanAttention's even split of T = heads·nb tiles over G workers, in closed form:
///
///     maxT = ⌈T/G⌉,  high = T − (maxT − 1)·G
///     start(c) = c·maxT                 (c < high)      len(c) = maxT
///              = (maxT − 1)·c + high    (c ≥ high)               maxT − 1
///
/// so every worker gets ⌈T/G⌉ or ⌈T/G⌉ − 1 contiguous tiles, whatever the head boundaries.
/// A range may cross heads; per head, the worker holding the first tile is the host (it
/// reduces the others' partials and writes the output), the one holding the last tile is the
/// finishing worker. With G > T the last G − T workers get no tile.
public struct LeanSchedule: Equatable, Sendable {
    public let tilesPerHead: Int
    public let heads: Int
    public let workers: Int
    /// T.
    public let totalTiles: Int
    /// ⌈T/G⌉ ("max_tiles_per_tb").
    public let maxTiles: Int
    /// Workers 0..<high get maxTiles tiles, the rest maxTiles − 1.
    public let high: Int

    public init(tilesPerHead nb: Int, heads: Int, workers g: Int) {
        precondition(nb >= 1 && heads >= 1 && g >= 1, "need ≥ 1 tile per head, ≥ 1 head and ≥ 1 worker (nb \(nb), heads \(heads), G \(g))")
        tilesPerHead = nb; self.heads = heads; workers = g
        totalTiles = nb * heads
        maxTiles = ceilDiv(totalTiles, g)
        high = totalTiles - (maxTiles - 1) * g
    }

    public func start(_ c: Int) -> Int { c < high ? c * maxTiles : (maxTiles - 1) * c + high }
    public func length(_ c: Int) -> Int { c < high ? maxTiles : maxTiles - 1 }
    /// Global tiles of worker c.
    public func range(_ c: Int) -> Range<Int> { start(c)..<(start(c) + length(c)) }

    /// The worker whose range holds global tile `gid` (the inverse of `start`).
    public func worker(ofTile gid: Int) -> Int {
        precondition(gid >= 0 && gid < totalTiles, "tile \(gid) outside 0..<\(totalTiles)")
        let longPart = high * maxTiles
        return gid < longPart ? gid / maxTiles : high + (gid - longPart) / (maxTiles - 1)
    }

    /// The worker holding the head's first tile.
    public func host(ofHead h: Int) -> Int { worker(ofTile: h * tilesPerHead) }
    /// The worker holding the head's last tile.
    public func finisher(ofHead h: Int) -> Int { worker(ofTile: (h + 1) * tilesPerHead - 1) }
    /// Workers that hold a piece of the head (they are consecutive).
    public func splits(ofHead h: Int) -> Int { finisher(ofHead: h) - host(ofHead: h) + 1 }

    /// Worker c's range cut at head boundaries, in order. Only the first segment can be a
    /// non-host piece and only the last can be a host piece of an unfinished head, which is
    /// why publishing before waiting cannot deadlock.
    public func segments(_ c: Int) -> [LeanSegment] {
        var out: [LeanSegment] = []
        let r = range(c)
        var gid = r.lowerBound
        while gid < r.upperBound {
            let h = gid / tilesPerHead
            let end = Swift.min(r.upperBound, (h + 1) * tilesPerHead)
            let t0 = gid - h * tilesPerHead, t1 = end - h * tilesPerHead
            out.append(LeanSegment(head: h, tiles: t0..<t1, isHost: t0 == 0, isFinishing: t1 == tilesPerHead))
            gid = end
        }
        return out
    }

    /// Upper bound on `splits(ofHead:)` from the split formula: a head that starts on the
    /// last tile of a worker needs ⌈(nb − 1)/L⌉ more workers of the shortest length L (L =
    /// maxT if G divides T, else maxT − 1; with maxT = 1 and G ∤ T every tile is its own
    /// worker). Tight: attained whenever some head starts on a worker's last tile followed by
    /// short workers.
    public var splitBound: Int {
        if totalTiles % workers == 0 { return 1 + ceilDiv(tilesPerHead - 1, maxTiles) }
        return maxTiles > 1 ? 1 + ceilDiv(tilesPerHead - 1, maxTiles - 1) : tilesPerHead
    }

    /// The num_splits formula as transcribed in ../shared/papers/leanattention.md §2.3 (ORT's
    /// scratch sizing): 1 + ⌈(nb−1)/maxT⌉ if G | T, else 1 + ⌈(nb−2)/(maxT−1)⌉ (maxT > 1), else 1.
    /// It can fall one short of the true maximum (see the tests and the README).
    public var transcribedNumSplits: Int {
        if totalTiles % workers == 0 { return 1 + ceilDiv(tilesPerHead - 1, maxTiles) }
        return maxTiles > 1 ? 1 + ceilDiv(Swift.max(0, tilesPerHead - 2), maxTiles - 1) : 1
    }

    /// The grid ONNX Runtime's LeanAttention launches on a GPU with `sms` SMs (2 CTAs per SM):
    /// G = min((T+1)/2, ⌈32·T/nb⌉) when T ≤ 4·SMs, else min(2·SMs, 32·heads) — at least two
    /// tiles per CTA and at most ~32 splits per head (§2.3, decode: one m-block per head).
    public static func gpuGrid(tilesPerHead nb: Int, heads: Int, sms: Int) -> Int {
        let t = nb * heads
        let g = t <= 4 * sms ? Swift.min((t + 1) / 2, ceilDiv(32 * t, nb)) : Swift.min(2 * sms, 32 * heads)
        return Swift.max(1, g)
    }
}

// MARK: - FlashDecoding

/// FlashAttention-2's split-KV heuristic (`num_splits_heuristic` in flash_api.cpp, as given in
/// ../shared/papers/leanattention.md §3.2): with bhm = B·H·m-blocks CTAs per split and `slots`
/// resident CTAs (2·SMs on a GPU),
///
///     bhm ≥ 0.8·slots → 1 split
///     eligible(s): s = 1 or ⌈nb/s⌉ ≠ ⌈nb/(s−1)⌉      (no two split counts with the same blocks per split)
///     eff(s) = w/⌈w⌉, w = bhm·s/slots                   (fill of the last wave)
///     the smallest eligible s ≤ min(maxSplits, slots, nb) with eff(s) ≥ 0.85·max eff.
///
/// Evaluated in Float, as the C++ does.
public func flashDecodingSplits(batchHeads bhm: Int, slots: Int, blocks nb: Int, maxSplits: Int = 128) -> Int {
    precondition(bhm >= 1 && slots >= 1 && nb >= 1, "need positive sizes")
    if Float(bhm) >= 0.8 * Float(slots) { return 1 }
    let limit = Swift.min(maxSplits, slots, nb)
    func eligible(_ s: Int) -> Bool { s == 1 || ceilDiv(nb, s) != ceilDiv(nb, s - 1) }
    var eff = [Float](repeating: 0, count: limit + 1)
    var best: Float = 0
    for s in 1...Swift.max(1, limit) where eligible(s) {
        let waves = Float(bhm * s) / Float(slots)
        eff[s] = waves / waves.rounded(.up)
        best = Swift.max(best, eff[s])
    }
    for s in 1...Swift.max(1, limit) where eligible(s) && eff[s] >= 0.85 * best { return s }
    return 1
}

/// FlashDecoding's split of one head: `splits` pieces of ⌈nb/splits⌉ consecutive tiles (the
/// last ones shorter, possibly empty when `splits` was not chosen by the heuristic).
public struct FlashDecodingSchedule: Equatable, Sendable {
    public let tilesPerHead: Int
    public let heads: Int
    public let splits: Int
    /// ⌈nb/splits⌉.
    public let tilesPerSplit: Int

    public init(tilesPerHead nb: Int, heads: Int, splits: Int) {
        precondition(nb >= 1 && heads >= 1 && splits >= 1, "need positive sizes")
        tilesPerHead = nb; self.heads = heads; self.splits = splits
        tilesPerSplit = ceilDiv(nb, splits)
    }

    /// Tiles of split `s` within a head (empty past the end).
    public func tiles(split s: Int) -> Range<Int> {
        let lo = Swift.min(tilesPerHead, s * tilesPerSplit)
        return lo..<Swift.min(tilesPerHead, lo + tilesPerSplit)
    }

    /// CTAs in launch order: grid (m-block, split, b·h) with x fastest, so CTA c is head
    /// c / splits, split c % splits.
    public var ctas: Int { heads * splits }
}
