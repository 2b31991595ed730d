import Testing
@testable import LeanAttention

/// LeanAttention's closed-form even split, FlashDecoding's heuristic and the GPU grid formula.
@Suite struct ScheduleTests {
    /// For every (nb, heads, G) in a sweep: ranges are contiguous and cover 0..<T exactly once,
    /// each worker has ⌈T/G⌉ or ⌈T/G⌉ − 1 tiles, each head has exactly one host and one
    /// finishing worker (the ones `host(ofHead:)`/`finisher(ofHead:)` name), only a worker's
    /// first segment can be a non-host piece and only its last an unfinished host piece, and
    /// no head is split over more workers than `splitBound`.
    @Test func evenSplitProperties() {
        var checked = 0
        for nb in [1, 2, 3, 5, 8, 13, 32] {
            for heads in 1...6 {
                for g in 1...64 {
                    let s = LeanSchedule(tilesPerHead: nb, heads: heads, workers: g)
                    let t = nb * heads, ceilTG = (t + g - 1) / g
                    #expect(s.maxTiles == ceilTG)
                    var owner = [Int](repeating: -1, count: t)
                    var next = 0
                    var hosts = [Int](repeating: 0, count: heads), finishers = hosts
                    for c in 0..<g {
                        let r = s.range(c)
                        #expect(r.lowerBound == next, "nb \(nb) heads \(heads) G \(g): worker \(c) starts at \(r.lowerBound), expected \(next)")
                        #expect(r.count == ceilTG || r.count == ceilTG - 1)
                        for gid in r {
                            #expect(owner[gid] == -1, "tile \(gid) covered twice")
                            owner[gid] = c
                            #expect(s.worker(ofTile: gid) == c)
                        }
                        next = r.upperBound
                        let segs = s.segments(c)
                        #expect(segs.reduce(0) { $0 + $1.tiles.count } == r.count)
                        for (i, seg) in segs.enumerated() {
                            if seg.isHost { hosts[seg.head] += 1; #expect(s.host(ofHead: seg.head) == c) }
                            if seg.isFinishing { finishers[seg.head] += 1; #expect(s.finisher(ofHead: seg.head) == c) }
                            if !seg.isHost { #expect(i == 0, "a non-host piece must open the worker's range") }
                            if seg.isHost && !seg.isFinishing { #expect(i == segs.count - 1, "an unfinished host piece must close the range") }
                        }
                    }
                    #expect(next == t && !owner.contains(-1), "nb \(nb) heads \(heads) G \(g): tiles not all covered")
                    #expect(hosts.allSatisfy { $0 == 1 } && finishers.allSatisfy { $0 == 1 })
                    let maxSplits = (0..<heads).map { s.splits(ofHead: $0) }.max()!
                    #expect(maxSplits <= s.splitBound, "nb \(nb) heads \(heads) G \(g): \(maxSplits) splits > bound \(s.splitBound)")
                    checked += 1
                }
            }
        }
        #expect(checked == 7 * 6 * 64)
    }

    /// A hand-worked case: T = 10 tiles (2 heads of 5) over G = 4 workers: ⌈10/4⌉ = 3,
    /// high = 10 − 2·4 = 2, so ranges [0,3) [3,6) [6,8) [8,10). Head 0 (tiles 0–4) is hosted
    /// by worker 0 and finished by worker 1; head 1 (5–9) hosted by worker 1, finished by 3.
    @Test func handWorkedSplit() {
        let s = LeanSchedule(tilesPerHead: 5, heads: 2, workers: 4)
        #expect(s.maxTiles == 3 && s.high == 2)
        #expect((0..<4).map { s.range($0) } == [0..<3, 3..<6, 6..<8, 8..<10])
        #expect(s.host(ofHead: 0) == 0 && s.finisher(ofHead: 0) == 1 && s.splits(ofHead: 0) == 2)
        #expect(s.host(ofHead: 1) == 1 && s.finisher(ofHead: 1) == 3 && s.splits(ofHead: 1) == 3)
        #expect(s.segments(1) == [LeanSegment(head: 0, tiles: 3..<5, isHost: false, isFinishing: true),
                                  LeanSegment(head: 1, tiles: 0..<1, isHost: true, isFinishing: false)])
        // More workers than tiles: one tile each, the rest idle.
        let wide = LeanSchedule(tilesPerHead: 3, heads: 1, workers: 8)
        #expect((0..<8).map { wide.length($0) } == [1, 1, 1, 0, 0, 0, 0, 0])
        #expect(wide.splits(ofHead: 0) == 3 && wide.splitBound == 3)
    }

    /// The bound is attained, and the num_splits formula as transcribed in the notes falls one
    /// short in some cases (never more): e.g. nb = 2, 2 heads, G = 3 → ranges [0,2) [2,3)
    /// [3,4): head 1 spans 2 workers, the formula says 1 + ⌈0/1⌉ = 1.
    @Test func splitBoundTightAndTranscribedFormula() {
        var attained = 0, short = 0
        for nb in 2...24 {
            for heads in 1...6 {
                for g in 1...(nb * heads) {
                    let s = LeanSchedule(tilesPerHead: nb, heads: heads, workers: g)
                    let actual = (0..<heads).map { s.splits(ofHead: $0) }.max()!
                    if actual == s.splitBound { attained += 1 }
                    if actual > s.transcribedNumSplits {
                        short += 1
                        #expect(actual - s.transcribedNumSplits == 1)
                    }
                }
            }
        }
        #expect(attained > 0)
        #expect(short > 0)
        let s = LeanSchedule(tilesPerHead: 2, heads: 2, workers: 3)
        #expect(s.splits(ofHead: 1) == 2 && s.transcribedNumSplits == 1 && s.splitBound == 2)
    }

    /// ORT's grid: T ≤ 4·SMs → min((T+1)/2, 32·heads); else min(2·SMs, 32·heads).
    @Test func gpuGrid() {
        #expect(LeanSchedule.gpuGrid(tilesPerHead: 8, heads: 8, sms: 108) == 32)       // T = 64: (64+1)/2 = 32
        #expect(LeanSchedule.gpuGrid(tilesPerHead: 4096, heads: 8, sms: 108) == 216)   // min(216, 256)
        #expect(LeanSchedule.gpuGrid(tilesPerHead: 4096, heads: 1, sms: 108) == 32)    // min(216, 32)
        #expect(LeanSchedule.gpuGrid(tilesPerHead: 54, heads: 8, sms: 108) == 216)     // T = 432: min(216, 256)
        #expect(LeanSchedule.gpuGrid(tilesPerHead: 1, heads: 1, sms: 108) == 1)
    }

    /// FlashAttention's heuristic on hand-computed cases.
    @Test func flashDecodingHeuristic() {
        // The code comment's example: 48 heads on 108 "SMs" → 2 splits (eff 0.89), not 3 (0.67).
        #expect(flashDecodingSplits(batchHeads: 48, slots: 108, blocks: 1000) == 2)
        // Same with slots = 2·108: eff(4) = 192/216 = 0.89 is the first ≥ 0.85·1.0.
        #expect(flashDecodingSplits(batchHeads: 48, slots: 216, blocks: 1000) == 4)
        // 8 heads, 512k at d = 128 (4096 blocks): eff(s) = 8s/216 for s ≤ 27; 23 is the first ≥ 0.85.
        #expect(flashDecodingSplits(batchHeads: 8, slots: 216, blocks: 4096) == 23)
        // ≥ 0.8·slots: no split (173 ≥ 172.8), one below that splits.
        #expect(flashDecodingSplits(batchHeads: 173, slots: 216, blocks: 4096) == 1)
        #expect(flashDecodingSplits(batchHeads: 172, slots: 216, blocks: 4096) > 1)
        // 3 heads, 8 slots, 10 blocks: s = 6, 7, 8 are ineligible (2 blocks each, like 5); eff(5) = 0.9375 is the max.
        #expect(flashDecodingSplits(batchHeads: 3, slots: 8, blocks: 10) == 5)
        // Two cores: one head → 2 splits; 2 or 3 heads → none.
        #expect(flashDecodingSplits(batchHeads: 1, slots: 2, blocks: 4096) == 2)
        #expect(flashDecodingSplits(batchHeads: 2, slots: 2, blocks: 4096) == 1)
        #expect(flashDecodingSplits(batchHeads: 3, slots: 2, blocks: 4096) == 1)
        // Never more splits than blocks.
        #expect(flashDecodingSplits(batchHeads: 1, slots: 216, blocks: 3) <= 3)
    }

    /// A split covers ⌈nb/s⌉ tiles; forced split counts can leave empty pieces at the end.
    @Test func flashDecodingPieces() {
        let a = FlashDecodingSchedule(tilesPerHead: 10, heads: 2, splits: 4)
        #expect((0..<4).map { a.tiles(split: $0) } == [0..<3, 3..<6, 6..<9, 9..<10])
        #expect(a.ctas == 8)
        let b = FlashDecodingSchedule(tilesPerHead: 5, heads: 1, splits: 4)
        #expect((0..<4).map { b.tiles(split: $0) } == [0..<2, 2..<4, 4..<5, 5..<5])
    }

    @Test func tileSizes() {
        #expect(leanTileTokens(headDim: 64) == 256)
        #expect(leanTileTokens(headDim: 128) == 128)
        #expect(leanTileTokens(headDim: 256) == 64)
    }
}
