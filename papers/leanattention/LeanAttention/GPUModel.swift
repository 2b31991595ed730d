import Foundation

// An occupancy/bandwidth model of decode attention on a GPU, for FlashAttention-2,
// FlashDecoding and LeanAttention. The paper's speed-ups are GPU occupancy effects (108–132
// SMs) that a 2-core CPU cannot show, so we predict them from the schedules alone.
//
// The model (../shared/papers/leanattention.md §5, models A and B joined):
// - A kernel launches CTAs in a fixed order; at most `slots` = 2·SMs are resident (2 CTAs of
//   128 threads per SM); when one finishes, the next queued CTA takes its slot (block
//   scheduler). Each CTA must stream its K+V bytes (fp16: tokens·d·2·2 B).
// - Bandwidth sharing: while `a` CTAs are resident, each streams at r = min(b_cta, BW/a).
//   b_cta, the bandwidth one CTA can pull on its own, is the model's one free parameter.
//   Few CTAs → each at b_cta (latency-bound); many → HBM-bound, shared equally.
// - Time = launches·t_launch + makespan of the fluid schedule above, plus
//     FlashDecoding (splits > 1): a second launch and its combine traffic (fp32 partials
//       Ô and lse, splits·B·H·(d+1)·4 B written and read back) at full BW;
//     LeanAttention: the host's in-kernel merge, reading (splits − 1) partials of
//       (d + 2)·4 B at b_cta after its last contributor finishes (all G ≤ slots CTAs are
//       resident from the start, so the host waits at most for the makespan).
// - Grids: FA2 B·H CTAs of N tokens; FlashDecoding B·H·s CTAs of ⌈nb/s⌉ tiles with s from
//   `flashDecodingSplits(B·H, slots, nb)`; LeanAttention G = `LeanSchedule.gpuGrid` CTAs of
//   ⌈T/G⌉ or ⌈T/G⌉ − 1 tiles.

/// A GPU (or, with `leanGrid: .allSlots`, this CPU) as the model sees it.
public struct GPUSpec: Equatable, Sendable {
    /// How LeanAttention picks its grid: ONNX Runtime's rule for GPUs
    /// (`LeanSchedule.gpuGrid`), or one worker per slot (our CPU kernel: G = threads).
    public enum LeanGrid: Equatable, Sendable { case ort, allSlots }

    public var name: String
    public var sms: Int
    /// Resident CTAs per SM (shared memory allows 2 of FA2's decode CTAs).
    public var ctasPerSM: Int
    /// HBM bandwidth in bytes/s.
    public var bandwidth: Double
    public var leanGrid: LeanGrid

    public init(name: String, sms: Int, ctasPerSM: Int = 2, bandwidth: Double, leanGrid: LeanGrid = .ort) {
        self.name = name; self.sms = sms; self.ctasPerSM = ctasPerSM; self.bandwidth = bandwidth; self.leanGrid = leanGrid
    }

    public var slots: Int { sms * ctasPerSM }

    /// A100-80GB SXM: 108 SMs, ≈2.0 TB/s.
    public static let a100 = GPUSpec(name: "A100-80GB", sms: 108, bandwidth: 2.0e12)
    /// H100 SXM: 132 SMs, ≈3.35 TB/s.
    public static let h100 = GPUSpec(name: "H100-SXM", sms: 132, bandwidth: 3.35e12)
}

/// The model's constants: one fitted (`ctaBandwidth`), the rest fixed beforehand.
public struct ModelParams: Equatable, Sendable {
    /// b_cta, bytes/s one CTA streams when bandwidth is not shared (fitted).
    public var ctaBandwidth: Double
    /// Seconds per kernel launch (fixed: 4 µs, the middle of the 3–5 µs usually quoted).
    public var launch: Double
    /// Bytes per K or V element (fp16).
    public var kvElementBytes: Double

    public init(ctaBandwidth: Double, launch: Double = 4e-6, kvElementBytes: Double = 2) {
        self.ctaBandwidth = ctaBandwidth; self.launch = launch; self.kvElementBytes = kvElementBytes
    }
}

public enum AttentionKernel: String, CaseIterable, Sendable {
    case fa2 = "fa2"
    case flashDecoding = "flashdecoding"
    case lean = "lean"
}

/// One decode step: B·H rows (heads) of context N and head dim d.
public struct DecodeShape: Equatable, Sendable {
    public var batchHeads: Int
    public var length: Int
    public var dim: Int
    public init(batchHeads: Int, length: Int, dim: Int) { self.batchHeads = batchHeads; self.length = length; self.dim = dim }

    public var tileTokens: Int { leanTileTokens(headDim: dim) }
    public var tilesPerHead: Int { ceilDiv(length, tileTokens) }
}

/// The CTAs a kernel launches and its extra costs.
public struct KernelPlan: Equatable, Sendable {
    public var kernel: AttentionKernel
    /// K+V tokens each CTA streams, in launch order.
    public var ctaTokens: [Int]
    /// Kernel launches (FlashDecoding with splits: 2).
    public var launches: Int
    /// FlashDecoding: partial bytes written by the split kernel and read by the combine kernel.
    public var combineBytes: Double
    /// LeanAttention: partial bytes the busiest host reads after its contributors finish.
    public var hostReduceBytes: Double
    /// Splits per head (FlashDecoding's s; LeanAttention's largest; FA2: 1).
    public var splits: Int

    public var grid: Int { ctaTokens.count }
}

/// The launch plan of `kernel` for `shape` on `gpu`.
public func kernelPlan(_ kernel: AttentionKernel, _ shape: DecodeShape, gpu: GPUSpec) -> KernelPlan {
    let (bh, n, d, bn, nb) = (shape.batchHeads, shape.length, shape.dim, shape.tileTokens, shape.tilesPerHead)
    func tokens(_ tiles: Range<Int>) -> Int { Swift.max(0, Swift.min(n, tiles.upperBound * bn) - tiles.lowerBound * bn) }
    switch kernel {
    case .fa2:
        return KernelPlan(kernel: kernel, ctaTokens: Array(repeating: n, count: bh), launches: 1, combineBytes: 0,
                          hostReduceBytes: 0, splits: 1)
    case .flashDecoding:
        let s = flashDecodingSplits(batchHeads: bh, slots: gpu.slots, blocks: nb)
        let fd = FlashDecodingSchedule(tilesPerHead: nb, heads: bh, splits: s)
        let perHead = (0..<s).map { tokens(fd.tiles(split: $0)) }
        let ctas = (0..<bh).flatMap { _ in perHead }
        return KernelPlan(kernel: kernel, ctaTokens: ctas, launches: s > 1 ? 2 : 1,
                          combineBytes: s > 1 ? 2 * Double(s * bh * (d + 1) * 4) : 0, hostReduceBytes: 0, splits: s)
    case .lean:
        let g = gpu.leanGrid == .ort ? LeanSchedule.gpuGrid(tilesPerHead: nb, heads: bh, sms: gpu.sms) : gpu.slots
        let ls = LeanSchedule(tilesPerHead: nb, heads: bh, workers: g)
        let ctas = (0..<g).map { c in ls.segments(c).reduce(0) { $0 + tokens($1.tiles) } }
        let maxSplits = (0..<bh).map { ls.splits(ofHead: $0) }.max()!
        return KernelPlan(kernel: kernel, ctaTokens: ctas, launches: 1, combineBytes: 0,
                          hostReduceBytes: Double((maxSplits - 1) * (d + 2) * 4), splits: maxSplits)
    }
}

/// The fluid schedule: CTAs of `bytes` (launch order) on `slots` slots, each resident CTA
/// streaming at min(b_cta, BW/resident). Returns the makespan and the slot-seconds in use
/// (so utilisation = busy / (slots · makespan)).
public func fluidMakespan(bytes: [Double], slots: Int, ctaBandwidth b: Double, bandwidth bw: Double)
    -> (time: Double, busySlotSeconds: Double) {
    precondition(slots >= 1 && b > 0 && bw > 0, "need slots ≥ 1 and positive bandwidths")
    // Every resident CTA has streamed the same bytes since it started, so keep each one's
    // finish as a point on one shared "progress" axis (bytes per CTA) in a min-heap.
    var heap = MinHeap()
    var progress = 0.0, t = 0.0, busy = 0.0, next = 0
    while next < bytes.count && heap.count < slots { heap.push(progress + bytes[next]); next += 1 }
    while let key = heap.min {
        let a = Double(heap.count)
        let rate = Swift.min(b, bw / a)
        let dt = (key - progress) / rate
        t += dt; busy += a * dt
        progress = key
        while let k = heap.min, k <= progress { heap.pop() }
        while next < bytes.count && heap.count < slots { heap.push(progress + bytes[next]); next += 1 }
    }
    return (t, busy)
}

/// The model's prediction for one kernel and shape.
public struct ModelTiming: Equatable, Sendable {
    public var kernel: AttentionKernel
    public var seconds: Double
    /// CTAs launched, waves (⌈grid/slots⌉), CTAs in the last wave.
    public var grid: Int
    public var waves: Int
    public var lastWave: Int
    public var splits: Int
    /// Busy slot-seconds / (slots · makespan) of the main kernel.
    public var utilisation: Double
    /// K+V bytes / seconds.
    public var achievedBandwidth: Double
}

public func modelTime(_ kernel: AttentionKernel, _ shape: DecodeShape, gpu: GPUSpec, params: ModelParams) -> ModelTiming {
    let plan = kernelPlan(kernel, shape, gpu: gpu)
    let perToken = Double(shape.dim) * 2 * params.kvElementBytes
    let fluid = fluidMakespan(bytes: plan.ctaTokens.map { Double($0) * perToken }, slots: gpu.slots,
                              ctaBandwidth: params.ctaBandwidth, bandwidth: gpu.bandwidth)
    var t = Double(plan.launches) * params.launch + fluid.time
    t += plan.combineBytes / gpu.bandwidth + plan.hostReduceBytes / params.ctaBandwidth
    let waves = ceilDiv(plan.grid, gpu.slots)
    let kv = Double(shape.batchHeads * shape.length) * perToken
    return ModelTiming(kernel: kernel, seconds: t, grid: plan.grid, waves: waves, lastWave: plan.grid - (waves - 1) * gpu.slots,
                       splits: plan.splits, utilisation: fluid.time > 0 ? fluid.busySlotSeconds / (Double(gpu.slots) * fluid.time) : 0,
                       achievedBandwidth: kv / t)
}

/// One point of a model sweep: the three kernels' predictions and LeanAttention's speed-ups.
public struct ModelPoint: Equatable, Sendable {
    public var batch: Int
    public var heads: Int
    public var shape: DecodeShape
    public var fa2: ModelTiming
    public var flashDecoding: ModelTiming
    public var lean: ModelTiming
    public var speedupVsFA2: Double { fa2.seconds / lean.seconds }
    public var speedupVsFlashDecoding: Double { flashDecoding.seconds / lean.seconds }
}

/// An evaluation grid: every batch × heads × dim × length.
public struct ModelGrid: Equatable, Sendable {
    public var batches: [Int]
    public var heads: [Int]
    public var dims: [Int]
    public var lengths: [Int]
    public init(batches: [Int], heads: [Int], dims: [Int], lengths: [Int]) {
        self.batches = batches; self.heads = heads; self.dims = dims; self.lengths = lengths
    }

    public func evaluate(gpu: GPUSpec, params: ModelParams, lengths only: [Int]? = nil) -> [ModelPoint] {
        var out: [ModelPoint] = []
        for d in dims { for b in batches { for h in heads { for n in only ?? lengths {
            let s = DecodeShape(batchHeads: b * h, length: n, dim: d)
            out.append(ModelPoint(batch: b, heads: h, shape: s, fa2: modelTime(.fa2, s, gpu: gpu, params: params),
                                  flashDecoding: modelTime(.flashDecoding, s, gpu: gpu, params: params),
                                  lean: modelTime(.lean, s, gpu: gpu, params: params)))
        } } } }
        return out
    }
}

/// The four numbers the paper's abstracts report, as the model predicts them over a grid.
public struct HeadlineNumbers: Equatable, Sendable {
    /// Arithmetic mean over the grid of t_FA2 / t_Lean (v1: 2.6×).
    public var meanVsFA2: Double
    /// Largest t_FA2 / t_Lean at the v1 peak context (v1: 8.33× at 512k).
    public var peakVsFA2: Double
    /// Arithmetic mean of t_FD / t_Lean (v2: 1.73×).
    public var meanVsFlashDecoding: Double
    /// Largest t_FD / t_Lean at the v2 peak context (v2: 2.18× at 256k).
    public var peakVsFlashDecoding: Double

    public init(points: [ModelPoint], fa2PeakLength: Int, fdPeakLength: Int) {
        meanVsFA2 = points.map(\.speedupVsFA2).reduce(0, +) / Double(points.count)
        meanVsFlashDecoding = points.map(\.speedupVsFlashDecoding).reduce(0, +) / Double(points.count)
        peakVsFA2 = points.filter { $0.shape.length == fa2PeakLength }.map(\.speedupVsFA2).max() ?? .nan
        peakVsFlashDecoding = points.filter { $0.shape.length == fdPeakLength }.map(\.speedupVsFlashDecoding).max() ?? .nan
    }
}

/// b_cta such that the grid's largest t_FA2/t_Lean at context `length` equals `target`, by
/// bisection in log b over [lo, hi] (the ratio does not increase with b_cta: FA2's few CTAs
/// gain from a larger b_cta at least as much as LeanAttention's many). Returns nil when
/// `target` lies outside the ratios at the two ends.
public func fitCTABandwidth(target: Double, length: Int, grid: ModelGrid, gpu: GPUSpec, launch: Double = 4e-6,
                            lo: Double = 1e8, hi: Double = 1e13) -> Double? {
    func peak(_ b: Double) -> Double {
        grid.evaluate(gpu: gpu, params: ModelParams(ctaBandwidth: b, launch: launch), lengths: [length])
            .map(\.speedupVsFA2).max()!
    }
    var a = Foundation.log(lo), z = Foundation.log(hi)
    let pa = peak(lo), pz = peak(hi)
    guard (pz - target) * (pa - target) <= 0 else { return nil }
    for _ in 0..<100 {
        let mid = (a + z) / 2
        if (peak(Foundation.exp(mid)) - target) * (pa - target) > 0 { a = mid } else { z = mid }
        if z - a < 1e-12 { break }
    }
    return Foundation.exp((a + z) / 2)
}

/// A binary min-heap of Doubles.
struct MinHeap {
    private var a: [Double] = []
    var count: Int { a.count }
    var min: Double? { a.first }

    mutating func push(_ x: Double) {
        a.append(x)
        var i = a.count - 1
        while i > 0 {
            let p = (i - 1) / 2
            if a[p] <= a[i] { break }
            a.swapAt(p, i); i = p
        }
    }

    @discardableResult
    mutating func pop() -> Double? {
        guard let top = a.first else { return nil }
        let last = a.removeLast()
        if !a.isEmpty {
            a[0] = last
            var i = 0
            while true {
                let l = 2 * i + 1, r = l + 1
                var m = i
                if l < a.count && a[l] < a[m] { m = l }
                if r < a.count && a[r] < a[m] { m = r }
                if m == i { break }
                a.swapAt(m, i); i = m
            }
        }
        return top
    }
}
