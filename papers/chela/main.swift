// CHELA: "Short-Long Convolutions Help Hardware-Efficient Linear Attention to Focus on Long
// Sequences" (Liu, Li, Wang, Wang, Liu, Li; arXiv 2406.08128; ICML 2024). Short → SiLU → long
// convolutions replace MEGA's EMA, and causal linear attention is computed tile by tile, for
// "real linear complexity" and stable training without the regularisers long convolutions
// usually need. Its tables are not available (../shared/papers/chela.md §0): the targets are
// the exactness of the hardware-efficient parts, the shape of the scaling curves, the stability
// ablation, and the ordering of four models on generated ListOps and MQAR at CPU scale, with
// the LRA baselines it compares against shown beside ours.
//
// Reads top to bottom: config → 1. exactness → 2. scaling with L → 3. ListOps → 4. MQAR →
// 5. stability of long convolutions → 6. structural reparameterisation → report.
// Run with `make replicate PAPER=chela`.

import Chela
import Foundation
import Replicate

// MARK: - Config (`key=value` on the command line overrides any of them)

struct Config: PaperConfig {
    // 1. exactness on sequences of these lengths, with chunk sizes `exact_chunks` and L itself
    var exactLengths = [1, 100, 1000]
    var exactChunks = [1, 7, 64]
    // 2. one layer at batch 1, forward and forward + backward, up to a memory and a time budget
    var scalingLengths = [1024, 2048, 4096, 8192, 16_384, 32_768, 65_536]
    var scalingMemoryLimitGb = 4.0
    var scalingTimeLimitS = 20.0
    var scalingRepeats = 3
    /// Slopes are fitted to the lengths from this one on (below it fixed costs dominate).
    var scalingFitFrom = 4096
    // 3–5. the data, the models, the training budgets
    var listops = ListOpsConfig()
    var mqar = MQARConfig()
    var model = ModelConfig()
    var listopsTrain = TrainConfig.task(batch: 32, iters: 250, lr: 2e-3)
    var mqarTrain = TrainConfig.task(batch: 32, iters: 300, lr: 3e-3)
    var evalBatch = 100
    var seeds: [UInt64] = [1, 2, 3]

    func validate() throws {
        try listops.validate(prefix: "listops")
        try mqar.validate(prefix: "mqar")
        try model.validate(prefix: "model")
        try listopsTrain.validate()
        try mqarTrain.validate()
        try requireConfig(!exactLengths.isEmpty && exactLengths.allSatisfy { $0 >= 1 && $0 <= 4096 }, "exact_lengths", exactLengths, "must be lengths in 1…4096")
        try requireConfig(!exactChunks.isEmpty && exactChunks.allSatisfy { $0 >= 1 }, "exact_chunks", exactChunks, "must be chunk sizes of at least 1")
        try requireConfig(!scalingLengths.isEmpty && scalingLengths.allSatisfy { $0 >= 16 && $0 <= 1 << 22 }, "scaling_lengths", scalingLengths, "must be lengths in 16…4194304")
        try requireConfig(scalingMemoryLimitGb > 0 && scalingMemoryLimitGb <= 1e6, "scaling_memory_limit_gb", scalingMemoryLimitGb, "must be in (0, 1e6]")
        try requireConfig(scalingTimeLimitS > 0 && scalingTimeLimitS <= 1e6, "scaling_time_limit_s", scalingTimeLimitS, "must be in (0, 1e6]")
        try requireConfig(scalingRepeats >= 1, "scaling_repeats", scalingRepeats, "must be at least 1")
        try requireConfig(evalBatch, "eval_batch", in: 1...65_536)
        try requireConfig(scalingRepeats, "scaling_repeats", in: 1...1000)
        try requireConfig(scalingFitFrom, "scaling_fit_from", in: 1...(1 << 22))
        try requireConfig(exactChunks, "exact_chunks", each: 1...1_000_000)
        // A short kernel longer than the shortest sequence has lags that never reach an output.
        let shortest = min(listops.minLength + 2, mqar.length)
        try requireConfig(model.shortKernels.allSatisfy { $0 <= shortest }, "model.short_kernels", model.shortKernels,
                          "must be at most the shortest sequence (\(shortest) tokens)")
    }

    /// The claims' scale: the default preset's budget, or smaller.
    var scale: String { listopsTrain.maxIters >= 250 && mqarTrain.maxIters >= 300 && seeds.count >= 3 && scalingLengths.max()! >= 65_536 ? "cpu-default" : "ci" }
}

let ci: Config = {
    var c = Config()
    c.exactLengths = [1, 100, 300]
    c.scalingLengths = [256, 512, 1024, 2048, 4096]; c.scalingFitFrom = 1024; c.scalingRepeats = 2
    c.listops.train = 600; c.listops.val = 100; c.listops.test = 100; c.listops.maxLength = 200
    c.mqar.train = 600; c.mqar.test = 100; c.mqar.length = 128
    c.listopsTrain = .task(batch: 16, iters: 40, lr: 2e-3)
    c.mqarTrain = .task(batch: 16, iters: 40, lr: 2e-3)
    c.seeds = [1, 2]
    return c
}()

// MARK: - The experiment

func replicate(_ config: Config, _ run: Run) throws {
    var sections: [ReportSection] = []
    sections.append(exactness(config, run))
    let scaling = try scalingWithLength(config, run)
    sections.append(scaling)
    let listops = try listOps(config, run)
    sections.append(listops.section)
    sections.append(try recall(config, run))
    sections.append(try stability(config, run, listops))
    sections.append(reparameterisation(run, listops))
    try run.writeMetrics()
    try run.writeReport(
        figures: [
            ReportFigure(path: "figures/scaling_time.png", caption: "One layer, batch 1: forward + backward time against L (log-log), each mechanism as far as the memory and time budget allow."),
            ReportFigure(path: "figures/scaling_memory.png", caption: "Peak bytes held by tensors during one layer's forward + backward against L (log-log)."),
            ReportFigure(path: "figures/listops_accuracy.png", caption: "ListOps test accuracy of every seed, four models, same budget; chance is the most common label."),
            ReportFigure(path: "figures/mqar_accuracy.png", caption: "MQAR test accuracy (fraction of queries answered) of every seed."),
            ReportFigure(path: "figures/stability_loss.png", caption: "Long-conv-only model on ListOps: training loss (mean over seeds, band min–max) for the three convolution stages."),
            ReportFigure(path: "figures/long_kernels.png", caption: "CHELA layer 0's learned long kernels (seed \(run.seeds[0]), ListOps), |k| per channel (row) and lag (column), first 128 lags."),
        ],
        deviations: [
            "CHELA's equations, hyper-parameters and code are not available: its layer is the notes' reconstruction (MEGA's gated layer, EMA → short → SiLU → long depthwise convolutions, softmax → single-head linear attention computed chunk-wise), with every open choice a config field (README).",
            "ListOps is LRA's generator at lengths \(config.listops.minLength + 1)–\(config.listops.maxLength - 1) instead of 501–1999, with \(config.listops.train) training sequences instead of 96,000, and \(config.listopsTrain.maxIters + 1) updates of \(config.listopsTrain.batchSize) instead of 90,000 of 64: LRA's numbers are not comparable at this scale.",
            "All models are causal (MQAR needs it; LRA's MEGA runs bidirectional) and read ListOps by mean-pooling their outputs.",
            "Scaling is measured on one layer at d_model \(config.model.dModel), batch 1, float32 on \(Parallel.threads) CPU threads; the paper's speed claims are on GPUs (SRAM tiling), so absolute speed-ups are not comparable, only the curves' slopes.",
        ],
        sections: sections, scale: config.scale)
}

// MARK: 1. Exactness: chunked = recurrent = quadratic; FFT = direct; merged = branches

func exactness(_ config: Config, _ run: Run) -> ReportSection {
    var rng = RNG(seed: run.seeds[0] &+ 11)
    func randoms(_ n: Int) -> [Double] { (0..<n).map { _ in Double(rng.nextNormal()) } }
    func relError(_ a: [Double], _ b: [Double]) -> Double {
        let scale = max(b.map(abs).max() ?? 0, 1e-300)
        return zip(a, b).map { abs($0 - $1) }.max().map { $0 / scale } ?? 0
    }
    var worst: [String: Double] = [:]
    func note(_ name: String, _ e: Double) { worst[name] = max(worst[name] ?? 0, e) }
    var rows: [[String]] = []
    let (d, dv) = (16, 8)
    for l in config.exactLengths {
        let q = randoms(l * d), k = randoms(l * d), v = randoms(l * dv)
        let recurrent = recurrentLinearAttention64(q, k, v, l: l, d: d, dv: dv)
        let quadratic = quadraticLinearAttention64(q, k, v, l: l, d: d, dv: dv)
        var chunkedErr = 0.0, opErr = 0.0
        for c in config.exactChunks + [l] {
            chunkedErr = max(chunkedErr, relError(chunkedLinearAttention64(q, k, v, l: l, d: d, dv: dv, chunk: c), recurrent))
            let o = noGrad {
                causalLinearAttention(q: Tensor(q.map { Float($0) }, shape: [1, l, d]), k: Tensor(k.map { Float($0) }, shape: [1, l, d]),
                                      v: Tensor(v.map { Float($0) }, shape: [1, l, dv]), chunkSize: c)
            }.toArray().map { Double($0) }
            opErr = max(opErr, relError(o, quadratic))
        }
        let quadErr = relError(quadratic, recurrent)
        note("chunked_vs_recurrent", chunkedErr); note("quadratic_vs_recurrent", quadErr); note("linear_attention_op", opErr)
        // Long convolution: a kernel as long as the sequence, one channel, and the op on 4 channels.
        let x = randoms(l), kernel = randoms(l).map { $0 * 0.1 }
        let direct = directCausalConv64(x, kernel: kernel)
        let spectralErr = relError(spectralCausalConv64(x, kernel: kernel), direct)
        let ch = 4
        let xs = randoms(l * ch), ks = randoms(ch * l).map { $0 * 0.1 }
        let y = noGrad { causalLongConv(Tensor(xs.map { Float($0) }, shape: [1, l, ch]), kernel: Tensor(ks.map { Float($0) }, shape: [ch, l])) }.toArray()
        var fftErr = 0.0
        for c in 0..<ch {
            let ref = directCausalConv64((0..<l).map { xs[$0 * ch + c] }, kernel: Array(ks[(c * l)..<((c + 1) * l)]))
            fftErr = max(fftErr, relError((0..<l).map { Double(y[$0 * ch + c]) }, ref))
        }
        note("spectral_vs_direct_conv", spectralErr); note("long_conv_op", fftErr)
        // Reparameterisation: branches of lengths 3, 5, 7 plus a long kernel, against one merged kernel.
        let branches = [3, 5, 7].map { randoms($0) } + [kernel]
        let summed = branches.map { directCausalConv64(x, kernel: $0) }.reduce([Double](repeating: 0, count: l)) { zip($0, $1).map(+) }
        var merged = [Double](repeating: 0, count: l)
        for b in branches { for (j, w) in b.enumerated() where j < l { merged[j] += w } }
        let mergeErr = relError(directCausalConv64(x, kernel: merged), summed)
        note("merged_vs_branches", mergeErr)
        rows.append(["\(l)", sci(chunkedErr), sci(quadErr), sci(opErr), sci(spectralErr), sci(fftErr), sci(mergeErr)])
    }
    for (name, value) in worst.sorted(by: { $0.key < $1.key }) {
        run.record("exact_\(["linear_attention_op", "long_conv_op"].contains(name) ? "f32" : "f64").\(name)", value)
    }
    log("1. exactness: " + worst.sorted { $0.key < $1.key }.map { "\($0.key) \(sci($0.value))" }.joined(separator: ", "))
    return ReportSection(title: "1. Exactness of the hardware-efficient parts", markdown: """
        Random inputs (d = \(d), d_v = \(dv)); each entry is max |Δ| / max |reference|, the worst over chunk sizes \
        \(config.exactChunks.map(String.init).joined(separator: ", ")) and L. Float64 columns compare two float64 algorithms; \
        float32 columns compare our ops (`causalLinearAttention`, `causalLongConv` through FFTW) with the float64 definition.

        """ + markdownTable(["L", "chunked vs recurrent (f64)", "quadratic vs recurrent (f64)", "chunked op (f32)",
                             "zero-padded DFT vs direct (f64)", "FFT long conv op (f32)", "merged kernel vs 3+5+7+long branches (f64)"], rows))
}

func sci(_ x: Double) -> String { x == 0 ? "0" : String(format: "%.1e", x) }

// MARK: 2. Scaling with sequence length

enum Mechanism: String, CaseIterable {
    case softmax, cumsum, chunked, chela
    var title: String {
        switch self {
        case .softmax: return "softmax attention"
        case .cumsum: return "linear attention, cumsum"
        case .chunked: return "linear attention, chunked"
        case .chela: return "CHELA layer"
        }
    }
    /// How its memory and time grow with L, for deciding whether the next length fits.
    var growthPower: Double { self == .softmax ? 2 : 1 }
    func block(_ c: ModelConfig, length: Int, rng: inout RNG) -> SequenceBlock {
        switch self {
        case .softmax: return AttentionBlock(.softmax, config: c, rng: &rng)
        case .cumsum: return AttentionBlock(.linear(.cumsum), config: c, rng: &rng)
        case .chunked: return AttentionBlock(.linear(.chunked), config: c, rng: &rng)
        case .chela: return GatedConvBlock(attention: true, stage: .shortLong, maxLength: length, config: c, rng: &rng)
        }
    }
}

/// Least-squares slope of log y against log x.
func logLogSlope(_ x: [Double], _ y: [Double]) -> Double? {
    guard x.count >= 2 else { return nil }
    let lx = x.map { Foundation.log($0) }, ly = y.map { Foundation.log($0) }
    let mx = lx.reduce(0, +) / Double(lx.count), my = ly.reduce(0, +) / Double(ly.count)
    let sxy = zip(lx, ly).map { ($0 - mx) * ($1 - my) }.reduce(0, +), sxx = lx.map { ($0 - mx) * ($0 - mx) }.reduce(0, +)
    return sxx > 0 ? sxy / sxx : nil
}

func scalingWithLength(_ config: Config, _ run: Run) throws -> ReportSection {
    struct Point { var l: Int; var forward: Double; var training: Double; var peak: Int }
    var points: [Mechanism: [Point]] = [:], skipped: [Mechanism: String] = [:]
    let limitBytes = config.scalingMemoryLimitGb * 1e9, c = config.model.dModel
    for m in Mechanism.allCases {
        for l in config.scalingLengths.sorted() {
            if let last = points[m]?.last {
                let growth = Double(l) / Double(last.l)
                let bytes = Double(last.peak) * Foundation.pow(growth, m.growthPower)
                let seconds = last.training * Foundation.pow(growth, m.growthPower)
                if bytes > limitBytes || seconds > config.scalingTimeLimitS {
                    skipped[m] = "from L = \(l): would need ≈ \(formatNumber(bytes / 1e9, significantDigits: 2)) GB and \(formatNumber(seconds, significantDigits: 2)) s"
                    break
                }
            }
            var rng = RNG(seed: run.seeds[0] &+ UInt64(l))
            let block = m.block(config.model, length: l, rng: &rng)
            let xs = Tensor.randn([1, l, c], rng: &rng), g = Tensor.randn([1, l, c], rng: &rng)
            var forward: [Double] = [], training: [Double] = [], peak = 0
            for _ in 0..<config.scalingRepeats {
                var t0 = now()
                _ = noGrad { block(xs) }
                forward.append(now() - t0)
                let x = Tensor(xs.toArray(), shape: xs.shape, requiresGrad: true)
                let base = TensorMemory.liveBytes
                TensorMemory.resetPeak()
                t0 = now()
                block(x).backward(seed: g.toArray())
                training.append(now() - t0)
                peak = max(peak, TensorMemory.peakBytes - base)
                for p in block.parameters() { p.zeroGrad() }
            }
            let p = Point(l: l, forward: median(forward), training: median(training), peak: peak)
            points[m, default: []].append(p)
            run.record("scaling_forward_ms.\(m.rawValue).L\(l)", p.forward * 1000)
            run.record("scaling_train_step_ms.\(m.rawValue).L\(l)", p.training * 1000)
            run.record("peak_bytes.\(m.rawValue).L\(l)", Double(p.peak))
            log("2. \(m.title) L \(l): forward \(formatNumber(p.forward * 1000, significantDigits: 3)) ms, forward + backward \(formatNumber(p.training * 1000, significantDigits: 3)) ms, peak \(formatNumber(Double(p.peak) / 1e6, significantDigits: 3)) MB")
        }
    }
    // Slopes over the lengths from `scaling_fit_from` on; the crossover where chunked linear
    // attention (and CHELA) becomes faster than softmax, from the measured points.
    var slopeRows: [[String]] = []
    for m in Mechanism.allCases {
        let fit = (points[m] ?? []).filter { $0.l >= config.scalingFitFrom }
        let time = logLogSlope(fit.map { Double($0.l) }, fit.map(\.training))
        let mem = logLogSlope(fit.map { Double($0.l) }, fit.map { Double($0.peak) })
        if let time { run.record("scaling_time_slope.\(m.rawValue)", time) }
        if let mem { run.record("memory_slope.\(m.rawValue)", mem) }
        slopeRows.append([m.title, time.map { formatNumber($0, significantDigits: 3) } ?? "–", mem.map { formatNumber($0, significantDigits: 3) } ?? "–",
                          "\(points[m]?.last?.l ?? 0)", skipped[m] ?? "–"])
    }
    func crossover(_ fast: Mechanism) -> Int? {
        let soft = Dictionary(uniqueKeysWithValues: (points[.softmax] ?? []).map { ($0.l, $0.training) })
        return points[fast]?.first { p in soft[p.l].map { p.training < $0 } ?? true }?.l
    }
    for m in [Mechanism.chunked, .chela] {
        if let x = crossover(m) { run.record("crossover_time_length.\(m.rawValue)_vs_softmax", Double(x)) }
    }
    let common = Set((points[.cumsum] ?? []).map(\.l)).intersection((points[.chunked] ?? []).map(\.l)).max()
    if let common, let a = points[.cumsum]?.first(where: { $0.l == common }), let b = points[.chunked]?.first(where: { $0.l == common }) {
        run.record("peak_bytes_ratio.cumsum_over_chunked", Double(a.peak) / Double(b.peak))
    }
    let series = Mechanism.allCases.compactMap { m in points[m].map { p in (m, p) } }
    try Figure(title: "One layer, forward + backward, batch 1, d_model \(c)", xLabel: "sequence length L", yLabel: "seconds", logX: true, logY: true,
               series: series.map { Series(name: $0.0.title, x: $0.1.map { Double($0.l) }, y: $0.1.map(\.training), style: .linesPoints) })
        .render(to: run.figuresDir + "/scaling_time.png")
    try Figure(title: "Peak tensor memory, forward + backward", xLabel: "sequence length L", yLabel: "bytes", logX: true, logY: true,
               series: series.map { Series(name: $0.0.title, x: $0.1.map { Double($0.l) }, y: $0.1.map { Double($0.peak) }, style: .linesPoints) })
        .render(to: run.figuresDir + "/scaling_memory.png")
    let lengths = config.scalingLengths.sorted()
    let timeRows = lengths.map { l in
        ["\(l)"] + Mechanism.allCases.map { m in
            points[m]?.first { $0.l == l }.map { "\(formatNumber($0.forward * 1000, significantDigits: 3)) / \(formatNumber($0.training * 1000, significantDigits: 3)) ms, \(formatNumber(Double($0.peak) / 1e6, significantDigits: 3)) MB" } ?? "–"
        }
    }
    let cross = [Mechanism.chunked, .chela].map { m in "\(m.title): " + (crossover(m).map { "from L = \($0)" } ?? "not within the lengths measured") }
    return ReportSection(title: "2. Time and memory against sequence length", markdown: """
        One layer (d_model \(c), \(config.model.heads) heads for the attention blocks; CHELA: z \(config.model.zDim), h \(config.model.hDim), chunks of \
        \(config.model.chunkSize)), batch 1, median of \(config.scalingRepeats): forward without gradients / forward + backward, and the peak bytes \
        held by tensors during forward + backward (counted by the allocator, not estimated). A mechanism stops where its next length would \
        exceed \(formatNumber(config.scalingMemoryLimitGb)) GB or \(formatNumber(config.scalingTimeLimitS)) s.

        """ + markdownTable(["L"] + Mechanism.allCases.map(\.title), timeRows) + """

        Slopes of log(time) and log(peak bytes) against log L, fitted from L = \(config.scalingFitFrom) on (expected ≈ 2 for softmax, ≈ 1 for the others):

        """ + markdownTable(["mechanism", "time slope", "memory slope", "longest L run", "stopped"], slopeRows) + """

        Faster than softmax attention (forward + backward): \(cross.joined(separator: "; ")). The cumsum form holds L·d·d_v numbers per head \
        (\(common.flatMap { l in run.shared["peak_bytes_ratio.cumsum_over_chunked"].map { "\(formatNumber($0, significantDigits: 3))× the chunked form's peak at L = \(l)" } } ?? "–")).
        """)
}

// MARK: 3. ListOps

/// How many rows of `logits` (N, K) have their largest entry (the first, on ties) at `targets`.
func correctPredictions(_ logits: Tensor, _ targets: [Int32]) -> Int {
    let k = logits.shape[1]
    return targets.indices.filter { i in
        var best = 0
        for j in 1..<k where logits.data[i * k + j] > logits.data[i * k + best] { best = j }
        return Int32(best) == targets[i]
    }.count
}

/// The test accuracy (%) of a classifier, in batches.
func classificationAccuracy(_ model: SequenceModel, _ set: SequenceSet, batch: Int) -> Double {
    var correct = 0
    for start in stride(from: 0, to: set.count, by: batch) {
        let b = set.batch(Array(start..<min(set.count, start + batch)))
        correct += correctPredictions(noGrad { model.classify(b) }, b.labels)
    }
    return 100 * Double(correct) / Double(set.count)
}

/// The model of `kind` for a task, seeded.
func makeModel(_ kind: ModelKind, vocab: Int, outputs: Int, maxLength: Int, _ config: Config, stage: ConvStage = .shortLong, seed: UInt64) -> SequenceModel {
    SequenceModel(kind: kind, vocab: vocab, outputs: outputs, maxLength: maxLength, config: config.model, stage: stage, seed: seed)
}

/// Trains one ListOps classifier (or loads it when finished) and returns it with its history.
func trainListOps(_ kind: ModelKind, stage: ConvStage = .shortLong, _ data: (train: SequenceSet, val: SequenceSet), _ config: Config,
                  _ run: Run, seed: UInt64, part: String) throws -> (model: SequenceModel, history: TrainHistory) {
    let model = makeModel(kind, vocab: ListOpsVocabulary.tokens.count, outputs: 10, maxLength: config.listops.maxLength, config, stage: stage, seed: seed)
    let b = config.listopsTrain.batchSize
    let history = try train(model, config: config.listopsTrain, seed: seed, checkpoint: try run.checkpoint(seed: seed, part: part, model: part),
                            label: "[\(part) s\(seed)] ", loss: { rng in
        let batch = data.train.batch((0..<b).map { _ in rng.nextInt(below: data.train.count) })
        return crossEntropy(model.classify(batch), targets: batch.labels)
    }, evaluate: { _ in [("val_accuracy", classificationAccuracy(model, data.val, batch: config.evalBatch))] })
    return (model, history)
}

/// What §3 trained, reused by §5 (its long-conv-only models are the short → long row) and §6.
struct ListOpsResult {
    var section: ReportSection
    var train: SequenceSet, val: SequenceSet, test: SequenceSet
    var models: [ModelKind: [UInt64: SequenceModel]] = [:]
    var histories: [ModelKind: [UInt64: TrainHistory]] = [:]
}

let lraListOps: [(String, Double, Double?)] = [
    ("Transformer", 36.37, 53.66), ("Linear Trans.", 16.13, 50.55), ("Performer", 18.01, 51.41), ("BigBird", 36.05, 55.01),
    ("S4 (v2)", 59.60, 86.09), ("S5", 62.15, 87.46), ("MEGA", 63.14, 88.21), ("MEGA-chunk", 58.76, 85.66),
]

func listOps(_ config: Config, _ run: Run) throws -> ListOpsResult {
    let c = config.listops
    let started = now()
    let generated = generateListOps(c)
    let stored = try storeSplits([("train", generated.train), ("val", generated.val), ("test", generated.test)], generator: "ListOps (LRA rules)",
                                 configJSON: canonicalJSON(c), seed: c.seed,
                                 to: run.dir + "/data/listops.h5", runConfig: run.configJSON, provenance: run.provenance)
    let (trainSet, valSet, testSet) = (stored[0], stored[1], stored[2])
    var result = ListOpsResult(section: ReportSection(title: "", markdown: ""), train: trainSet, val: valSet, test: testSet)
    let lengths = trainSet.lengths.map(Double.init)
    let labelCounts = (0..<10).map { l in testSet.labels.filter { $0 == l }.count }
    let majority = 100 * Double(labelCounts.max()!) / Double(testSet.count)
    run.record("listops_data.acceptance_rate", Double(c.train + c.val + c.test) / Double(generated.drawn))
    run.record("listops_data.mean_length", lengths.reduce(0, +) / Double(lengths.count))
    run.record("listops_data.majority_class_pct", majority)
    log("3. ListOps: \(generated.drawn) trees drawn, \(c.train)/\(c.val)/\(c.test) kept (\(formatNumber(now() - started, significantDigits: 2)) s), mean length \(formatNumber(lengths.reduce(0, +) / Double(lengths.count), significantDigits: 4)); majority class \(formatNumber(majority, significantDigits: 3))%")
    var acc: [ModelKind: [Double]] = [:]
    for kind in ModelKind.allCases {
        for seed in run.seeds {
            let (model, history) = try trainListOps(kind, (trainSet, valSet), config, run, seed: seed, part: "listops-\(kind.rawValue)")
            result.models[kind, default: [:]][seed] = model
            result.histories[kind, default: [:]][seed] = history
            let a = classificationAccuracy(model, testSet, batch: config.evalBatch)
            acc[kind, default: []].append(a)
            run.record("listops_test_accuracy.\(kind.rawValue)", a, seed: seed)
            log("[listops \(kind.rawValue) s\(seed)] test accuracy \(formatNumber(a, significantDigits: 3))%")
            if seed == run.seeds[0] {
                try writeActivations(model, testSet.batch(Array(0..<min(8, testSet.count))), run: run, seed: seed, part: "listops-\(kind.rawValue)")
            }
        }
        run.record("params.\(kind.rawValue)", Double(result.models[kind]![run.seeds[0]]!.parameterCount))
    }
    for seed in run.seeds {
        let s = run.perSeed[seed]!
        for other in [ModelKind.transformer, .linear, .longconv] {
            run.record("listops_delta_accuracy.chela_minus_\(other.rawValue)", s["listops_test_accuracy.chela"]! - s["listops_test_accuracy.\(other.rawValue)"]!, seed: seed)
        }
    }
    try Figure(title: "ListOps (lengths \(c.minLength + 1)–\(c.maxLength - 1)): test accuracy per seed", xLabel: "seed", yLabel: "accuracy (%)",
               series: ModelKind.allCases.map { k in Series(name: k.title, x: run.seeds.map { Double($0) }, y: acc[k]!, style: .points) },
               hLines: [ReferenceLine(label: "majority class", y: majority)], xRange: seedRange(run.seeds))
        .render(to: run.figuresDir + "/listops_accuracy.png")
    try kernelHeatmap(result.models[.chela]![run.seeds[0]]!, run)
    let m = run.measurements
    let ranked = ModelKind.allCases.sorted { m["listops_test_accuracy.\($0.rawValue)"]!.mean > m["listops_test_accuracy.\($1.rawValue)"]!.mean }
    for (i, k) in ranked.enumerated() { run.record("listops_rank.\(k.rawValue)", Double(i + 1)) }
    let rows = ModelKind.allCases.map { k -> [String] in
        let v = m["listops_test_accuracy.\(k.rawValue)"]!
        return [k.title, formatNumber(m["params.\(k.rawValue)"]!.mean), "\(formatNumber(v.mean, significantDigits: 3)) ± \(formatNumber(v.std ?? 0, significantDigits: 2))",
                "\(ranked.firstIndex(of: k)! + 1)"]
    }
    let lra = lraListOps.map { [$0.0, formatNumber($0.1), $0.2.map { formatNumber($0) } ?? "–"] }
    result.section = ReportSection(title: "3. ListOps at CPU scale", markdown: """
        LRA's generator (depth ≤ \(c.maxDepth), ≤ \(c.maxArgs) arguments, MIN, MAX, MED, SM) at lengths \(c.minLength + 1)–\(c.maxLength - 1) \
        (LRA: 501–1999), mean \(formatNumber(m["listops_data.mean_length"]!.mean, significantDigits: 4)) tokens; \(c.train)/\(c.val)/\(c.test) distinct \
        expressions (\(formatNumber(100 * m["listops_data.acceptance_rate"]!.mean, significantDigits: 2))% of the trees drawn were kept), in \
        `data/listops.h5`. Each model: \(config.model.layers) layers, d_model \(config.model.dModel), \(config.listopsTrain.maxIters + 1) updates \
        of \(config.listopsTrain.batchSize), lr \(formatNumber(config.listopsTrain.learningRate)); test accuracy (%) over \(run.seeds.count) seeds. \
        The most common label is \(formatNumber(majority, significantDigits: 3))% of the test set.

        """ + markdownTable(["model", "parameters", "test accuracy (%)", "rank"], rows) + """

        LRA's reported ListOps accuracy and LRA average (full length, 90k updates; not comparable at this scale):

        """ + markdownTable(["model (LRA)", "ListOps", "LRA average"], lra))
    return result
}

func seedRange(_ seeds: [UInt64]) -> ClosedRange<Double> { (Double(seeds.min()!) - 0.5)...(Double(seeds.max()!) + 0.5) }

/// |k| of CHELA layer 0's effective long kernels: channels × the first 128 lags.
func kernelHeatmap(_ model: SequenceModel, _ run: Run) throws {
    guard let block = model.blocks.first as? GatedConvBlock else { return }
    let k = noGrad { block.conv.effectiveLongKernel(block.conv.longKernel.shape[1]) }
    let (d, n) = (k.shape[0], min(128, k.shape[1]))
    let values = (0..<(d * n)).map { Double(abs(k.data[($0 / n) * k.shape[1] + $0 % n])) }
    try HeatmapFigure(values: values, rows: d, cols: n, title: "CHELA layer 0 long kernels |k|", xLabel: "lag", yLabel: "channel",
                      colormap: .viridis, squareCells: false).render(to: run.figuresDir + "/long_kernels.png")
}

/// activations.h5 of one trained model on a few test sequences: the tokens, every block's
/// output, CHELA's attention streams (q, k, v, the gate u), the logits and the merged model's
/// logits; `reference/check_pytorch.py` recomputes them from checkpoint.h5 alone.
func writeActivations(_ model: SequenceModel, _ b: SequenceSet, run: Run, seed: UInt64, part: String) throws {
    try noGrad {
        try H5File.writeAtomically(to: try run.activationsPath(seed: seed, part: part)) { f in
            try f.setAttribute("kind", .string("activations"))
            try f.setAttribute("model_kind", .string(model.kind.rawValue))
            try f.setAttribute("conv_stage", .string(((model.blocks.first as? GatedConvBlock)?.conv.stage ?? .shortLong).rawValue))
            try f.setAttribute("config", .string(run.configJSON))
            try run.provenance.attach(to: f)
            try f.write("tokens", b.tokens, shape: [b.count, b.width])
            try f.write("lengths", b.lengths.map(Int64.init), shape: [b.count])
            try f.write("labels", b.labels, shape: [b.count])
            var h = model.embed(b.tokens, batch: b.count, length: b.width)
            try f.write("embedding", h.toArray(), shape: h.shape)
            for (i, block) in model.blocks.enumerated() {
                if let g = block as? GatedConvBlock {
                    let s = g.streams(h)
                    try f.write("blocks.\(i).u", s.u.toArray(), shape: s.u.shape)
                    for (name, t) in [("q", s.q), ("k", s.k), ("v", s.v)] { if let t { try f.write("blocks.\(i).\(name)", t.toArray(), shape: t.shape) } }
                }
                h = block(h)
                try f.write("blocks.\(i)", h.toArray(), shape: h.shape)
            }
            let logits = model.classify(b)
            try f.write("logits", logits.toArray(), shape: logits.shape)
            if model.kind == .chela || model.kind == .longconv {
                let merged = model.reparameterised().classify(b)
                try f.write("logits_merged", merged.toArray(), shape: merged.shape)
            }
        }
    }
}

// MARK: 4. MQAR

/// The fraction (%) of query positions whose value is predicted.
func recallAccuracy(_ model: SequenceModel, _ set: SequenceSet, batch: Int) -> Double {
    var correct = 0, total = 0
    for start in stride(from: 0, to: set.count, by: batch) {
        let (logits, targets) = noGrad { model.recallLogits(set.batch(Array(start..<min(set.count, start + batch)))) }
        correct += correctPredictions(logits, targets)
        total += targets.count
    }
    return 100 * Double(correct) / Double(max(total, 1))
}

func recall(_ config: Config, _ run: Run) throws -> ReportSection {
    let c = config.mqar
    let generated = generateMQAR(c)
    let stored = try storeSplits([("train", generated.train), ("test", generated.test)], generator: "MQAR (Zoology)",
                                 configJSON: canonicalJSON(c), seed: c.seed,
                                 to: run.dir + "/data/mqar.h5", runConfig: run.configJSON, provenance: run.provenance)
    let (trainSet, testSet) = (stored[0], stored[1])
    log("4. MQAR: \(c.train)/\(c.test) sequences of \(c.length) tokens, \(c.pairs) pairs, vocab \(c.vocab)")
    var acc: [ModelKind: [Double]] = [:]
    let b = config.mqarTrain.batchSize
    for kind in ModelKind.allCases {
        for seed in run.seeds {
            let model = makeModel(kind, vocab: c.vocab, outputs: c.vocab, maxLength: c.length, config, seed: seed)
            let part = "mqar-\(kind.rawValue)"
            _ = try train(model, config: config.mqarTrain, seed: seed, checkpoint: try run.checkpoint(seed: seed, part: part, model: part),
                          label: "[\(part) s\(seed)] ", loss: { rng in
                let (logits, targets) = model.recallLogits(trainSet.batch((0..<b).map { _ in rng.nextInt(below: trainSet.count) }))
                return crossEntropy(logits, targets: targets)
            }, evaluate: { _ in [("test_accuracy", recallAccuracy(model, testSet, batch: config.evalBatch))] })
            let a = recallAccuracy(model, testSet, batch: config.evalBatch)
            acc[kind, default: []].append(a)
            run.record("mqar_test_accuracy.\(kind.rawValue)", a, seed: seed)
            log("[mqar \(kind.rawValue) s\(seed)] test accuracy \(formatNumber(a, significantDigits: 3))%")
        }
    }
    for seed in run.seeds {
        let s = run.perSeed[seed]!
        for other in [ModelKind.transformer, .linear, .longconv] {
            run.record("mqar_delta_accuracy.chela_minus_\(other.rawValue)", s["mqar_test_accuracy.chela"]! - s["mqar_test_accuracy.\(other.rawValue)"]!, seed: seed)
        }
    }
    let chance = 100 / Double(c.vocab / 2)
    try Figure(title: "MQAR (L \(c.length), \(c.pairs) pairs, vocab \(c.vocab)): test accuracy per seed", xLabel: "seed", yLabel: "queries answered (%)",
               series: ModelKind.allCases.map { k in Series(name: k.title, x: run.seeds.map { Double($0) }, y: acc[k]!, style: .points) },
               hLines: [ReferenceLine(label: "chance", y: chance)], xRange: seedRange(run.seeds))
        .render(to: run.figuresDir + "/mqar_accuracy.png")
    let m = run.measurements
    let rows = ModelKind.allCases.map { k -> [String] in
        let v = m["mqar_test_accuracy.\(k.rawValue)"]!
        return [k.title, "\(formatNumber(v.mean, significantDigits: 3)) ± \(formatNumber(v.std ?? 0, significantDigits: 2))"]
    }
    return ReportSection(title: "4. Multi-query associative recall", markdown: """
        \(c.pairs) key–value pairs (keys from 1…\(c.vocab / 2 - 1), values from \(c.vocab / 2)…\(c.vocab - 1)), then each key asked once at a position \
        with power-law gaps (a = \(formatNumber(c.powerA))) in a sequence of \(c.length) tokens; the model must output the value at the query. \
        \(c.train) training and \(c.test) test sequences (`data/mqar.h5`), \(config.mqarTrain.maxIters + 1) updates of \(b); chance is \
        \(formatNumber(chance, significantDigits: 2))%. Queries answered (%), mean ± std over seeds:

        """ + markdownTable(["model", "test accuracy (%)"], rows))
}

// MARK: 5. Stability: long convolutions without regularisers

func stability(_ config: Config, _ run: Run, _ listops: ListOpsResult) throws -> ReportSection {
    var curves: [ConvStage: [[Double]]] = [:], rows: [[String]] = []
    for stage in ConvStage.allCases {
        var diverged = 0, finals: [Double] = [], accs: [Double] = []
        for seed in run.seeds {
            var history: TrainHistory
            var model: SequenceModel?
            if stage == .shortLong, let m = listops.models[.longconv]?[seed], let h = listops.histories[.longconv]?[seed] {
                (model, history) = (m, h)
            } else {
                do {
                    let r = try trainListOps(.longconv, stage: stage, (listops.train, listops.val), config, run, seed: seed, part: "stability-\(stage.rawValue)")
                    (model, history) = (r.model, r.history)
                } catch let e as TrainingDiverged {
                    log("[stability \(stage.rawValue) s\(seed)] diverged at iteration \(e.iteration)")
                    (model, history) = (nil, e.history)
                }
            }
            let loss = history.trainLoss
            curves[stage, default: []].append(loss)
            let window = max(1, loss.count / 10)
            let first = loss.prefix(window).reduce(0, +) / Double(min(window, loss.count))
            let last = loss.suffix(window).reduce(0, +) / Double(min(window, loss.count))
            if model == nil || !(last < first) { diverged += 1 }
            if let model {
                finals.append(last)
                run.record("stability_final_loss.\(stage.rawValue)", last, seed: seed)
                let a = classificationAccuracy(model, listops.test, batch: config.evalBatch)
                accs.append(a)
                run.record("stability_test_accuracy.\(stage.rawValue)", a, seed: seed)
            }
        }
        run.record("stability_diverged_runs.\(stage.rawValue)", Double(diverged))
        let mean = { (v: [Double]) in v.isEmpty ? "–" : formatNumber(v.reduce(0, +) / Double(v.count), significantDigits: 4) }
        rows.append([stage.rawValue, "\(diverged) of \(run.seeds.count)", mean(finals), mean(accs)])
    }
    for seed in run.seeds {
        let s = run.perSeed[seed]!
        if let a = s["stability_final_loss.long"], let b = s["stability_final_loss.long_regularised"] {
            run.record("stability_loss_gap.long_minus_long_regularised", a - b, seed: seed)
        }
        if let a = s["stability_final_loss.short_long"], let b = s["stability_final_loss.long_regularised"] {
            run.record("stability_loss_gap.short_long_minus_long_regularised", a - b, seed: seed)
        }
    }
    let steps = (0..<(curves[.shortLong]?.first?.count ?? 0)).map(Double.init)
    try Figure(title: "Long-conv-only model, ListOps: training loss", xLabel: "update", yLabel: "cross-entropy",
               series: ConvStage.allCases.map { Series.overSeeds(name: $0.rawValue, x: steps, runs: curves[$0]!) })
        .render(to: run.figuresDir + "/stability_loss.png")
    return ReportSection(title: "5. Stability: long convolutions with and without regularisers", markdown: """
        The long-conv-only model (the gated layer without its attention stream) on ListOps, same budget, \(run.seeds.count) seeds, with three \
        convolution stages: a long kernel alone; the same with the usual regularisers (squash λ = \(formatNumber(Double(config.model.squashLambda))), \
        smoothing over \(config.model.smoothWindow) lags); and CHELA's short → SiLU → long, no regulariser. A run counts as diverged when its loss \
        became non-finite or its last tenth of updates averages no lower than its first tenth. Final loss = mean of the last tenth.

        """ + markdownTable(["stage", "diverged", "final training loss", "test accuracy (%)"], rows))
}

// MARK: 6. Structural reparameterisation

func reparameterisation(_ run: Run, _ listops: ListOpsResult) -> ReportSection {
    let b = listops.test.batch(Array(0..<min(64, listops.test.count)))
    var rows: [[String]] = []
    for kind in [ModelKind.chela, .longconv] {
        for seed in run.seeds {
            guard let model = listops.models[kind]?[seed] else { continue }
            let (a, m) = noGrad { (model.classify(b).toArray(), model.reparameterised().classify(b).toArray()) }
            let scale = Double(a.map(abs).max() ?? 1)
            let err = zip(a, m).map { Double(abs($0 - $1)) }.max()! / max(scale, 1e-30)
            run.record("reparam_max_rel_error.\(kind.rawValue)", err, seed: seed)
            rows.append([kind.title, "\(seed)", sci(err)])
        }
    }
    let c = listops.models[.chela]?[run.seeds[0]]
    let branches = (c?.blocks.first as? GatedConvBlock)?.conv.shortKernels.map { "\($0.shape[1])" }.joined(separator: " + ") ?? "–"
    return ReportSection(title: "6. Structural reparameterisation", markdown: """
        Trained with parallel short-conv branches (lengths \(branches)) and a long kernel with a per-channel skip; for inference each layer's \
        branches are merged into one kernel (their zero-padded sum) and the skip is folded into the long kernel's lag 0, so the merged model \
        runs one short and one long convolution. Its logits on \(b.count) ListOps test sequences against the trained form's (max |Δ| / max |logit|, float32):

        """ + markdownTable(["model", "seed", "max relative difference"], rows))
}

runMain(Paper<Config>(
    name: "chela", title: "CHELA: short-long convolutions with hardware-efficient linear attention",
    presets: [("ci", ci, "exactness, scaling to L 4k, ListOps ≤ 200 tokens and MQAR at 128, 41 updates, 2 seeds (~1.5 min, gated by make check)"),
              ("default", Config(), "exactness, scaling to L 64k, ListOps 51–249 tokens and MQAR at 256, 3 seeds per model (~29 min on 2 cores)")],
    run: replicate))
