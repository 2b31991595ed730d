// Aaren: "Attention as an RNN" (Feng, Tung, Hajimirsadeghi, Ahmed, Bengio, Mori; arXiv 2405.13956).
// Attention with a learned query is a many-to-one RNN; its many-to-many outputs come from a
// parallel prefix scan; Aaren trains in parallel like a Transformer, streams in O(1) state like an
// RNN, and "achieves comparable performance to Transformers on 38 datasets … while being more
// time and memory-efficient". The paper's tables are not available (../shared/papers/aaren.md):
// the targets are exactness, the efficiency curves' shapes, the parameter counts the paper prints,
// and parity with our own Transformer on real data.
//
// Reads top to bottom: config → 1. exactness of the scan → 2. parameter counts → 3. streaming
// (state bytes and time per token, Aaren vs a KV-cached Transformer layer) → 4. JapaneseVowels
// classification → 5. CO2 forecasting → figures → report. Run with `make replicate PAPER=aaren`.

import Aaren
import Foundation
import Replicate

// MARK: - Config (`key=value` on the command line overrides any of them)

struct Config: PaperConfig {
    // 1. exactness on sequences of these lengths (3 rows each, four kinds of scores)
    var exactLengths = [1, 257, 1000]
    // 3. streaming at the paper's efficiency-analysis size: d_model 512, d_ff 2048, 8 heads
    var streamDModel = 512
    var streamFfWidth = 2048
    var streamHeads = 8
    var aarenStreamTokens = 100_000
    var transformerStreamTokens = 16_384
    /// Contexts at which the Transformer's per-token time is also measured on a prefilled cache.
    var probeContexts = [1024, 4096, 16_384, 65_536, 100_000]
    // 4–5. the models both tasks train, Transformer and Aaren alike
    var dModel = 64
    var heads = 4
    var ffWidth = 128
    var layers = 2
    var vowels = TrainConfig.task(batch: 32, iters: 600, lr: 2e-3)
    var co2 = TrainConfig.task(batch: 16, iters: 600, lr: 1e-3)
    /// Weeks of context the forecaster trains on and forecasts from, and weeks forecast.
    var co2Window = 208
    var co2Horizon = 52
    /// Weeks held out at the end for testing (forecasts start inside it every `co2_stride` weeks).
    var co2TestWeeks = 312
    var co2Stride = 26
    // 6. associative recall: `recall_pairs` (key, value) pairs then one of the keys; predict its value
    var recallKeys = 16
    var recallPairs = 4
    var recall = TrainConfig.task(batch: 64, iters: 3000, lr: 3e-3)
    var recallTestCases = 1000
    var seeds: [UInt64] = [1, 2, 3, 4, 5]

    func validate() throws {
        try vowels.validate()
        try co2.validate()
        try recall.validate()
        try requireConfig(recallPairs >= 1 && recallPairs <= recallKeys, "recall_pairs", recallPairs, "must be in 1…recall_keys (\(recallKeys))")
        try requireConfig(recallTestCases >= 1, "recall_test_cases", recallTestCases, "must be at least 1")
        for (k, v) in [("stream_d_model", streamDModel), ("stream_heads", streamHeads), ("d_model", dModel), ("heads", heads),
                       ("layers", layers), ("ff_width", ffWidth), ("stream_ff_width", streamFfWidth), ("co2_window", co2Window),
                       ("co2_horizon", co2Horizon), ("co2_stride", co2Stride), ("recall_keys", recallKeys)] {
            try requireConfig(v, k, in: 1...65_536)
        }
        try requireConfig(exactLengths, "exact_lengths", each: 1...1_000_000)
        try requireConfig(probeContexts, "probe_contexts", each: 1...10_000_000)
        try requireConfig(recallTestCases, "recall_test_cases", in: 1...1_000_000)
        try requireConfig(aarenStreamTokens, "aaren_stream_tokens", in: 256...10_000_000)
        try requireConfig(transformerStreamTokens, "transformer_stream_tokens", in: 256...10_000_000)
        try requireConfig(co2TestWeeks, "co2_test_weeks", in: 1...100_000)
        try requireConfig(dModel % heads == 0, "d_model", dModel, "must be a multiple of heads (\(heads))")
        try requireConfig(streamDModel % (8 * streamHeads) == 0, "stream_d_model", streamDModel, "must be a multiple of 8·stream_heads")
        try requireConfig(aarenStreamTokens >= 256, "aaren_stream_tokens", aarenStreamTokens, "must be at least 256")
        try requireConfig(transformerStreamTokens >= 256, "transformer_stream_tokens", transformerStreamTokens, "must be at least 256")
        try requireConfig(co2TestWeeks >= co2Horizon + 52, "co2_test_weeks", co2TestWeeks, "must cover the horizon plus a season")
    }

    /// The claims' scale: the default preset's sizes, or smaller.
    var scale: String { aarenStreamTokens >= 100_000 && seeds.count >= 5 ? "cpu-default" : "ci" }
}

let ci: Config = {
    var c = Config()
    c.streamDModel = 128; c.streamFfWidth = 512; c.streamHeads = 4
    c.aarenStreamTokens = 2048; c.transformerStreamTokens = 2048; c.probeContexts = [512, 2048]
    c.vowels = .task(batch: 32, iters: 120, lr: 2e-3)
    c.co2 = .task(batch: 16, iters: 60, lr: 1e-3)
    c.co2TestWeeks = 156; c.co2Stride = 52
    c.recall = .task(batch: 64, iters: 200, lr: 3e-3); c.recallTestCases = 200
    c.seeds = [1, 2]
    return c
}()

// MARK: - The experiment

func replicate(_ config: Config, _ run: Run) throws {
    var sections: [ReportSection] = []
    sections.append(try exactness(config, run))
    sections.append(parameterCounts(run))
    let stream = try streaming(config, run)
    sections.append(stream.section)
    sections.append(try vowels(config, run))
    sections.append(try forecasting(config, run))
    sections.append(try recall(config, run))
    for kind in LayerKind.allCases {
        run.record("params.vowels.\(kind.rawValue)", Double(vowelModel(kind, config, classes: 9, seed: 0).parameterCount))
    }
    try run.writeMetrics()
    try run.writeReport(
        figures: stream.figures + [
            ReportFigure(path: "figures/vowels_accuracy.png", caption: "JapaneseVowels test accuracy of every seed, Transformer and Aaren (same backbone, same budget)."),
            ReportFigure(path: "figures/co2_forecast.png", caption: "CO2, last forecast origin: the truth, the seasonal-naive forecast and each model's forecast (seed \(run.seeds[0]))."),
            ReportFigure(path: "figures/recall_accuracy.png", caption: "Associative recall: test accuracy of every seed; chance is 1/\(config.recallKeys)."),
            ReportFigure(path: "figures/scan_weights.png", caption: "Aaren layer 0, head 0 of one trained vowels model (seed \(run.seeds[0])): the softmax weight of input step i (column) in the output at step k (row), from the scan; rows sum to 1 over i ≤ k."),
        ],
        deviations: [
            "The paper's tables, backbones' exact layouts and hyper-parameters are not available; both models here are our causal encoder (input projection + sinusoidal positions + post-norm layers with GELU FFN, TSL's EncoderLayer) with either causal softmax self-attention or Aaren, trained identically.",
            "Time-series classification uses one of the paper's 10 UEA sets (JapaneseVowels), with the output at each sequence's last step; forecasting uses the Mauna Loa CO2 series (not one of the paper's 8 sets) on first differences, since the level keeps rising past anything seen in training.",
            "Streaming is measured on one layer at the paper's efficiency-analysis size (d_model \(config.streamDModel), d_ff \(config.streamFfWidth)), batch 1, float32 on \(Parallel.threads) CPU threads; the Transformer streams \(config.transformerStreamTokens) tokens and its per-token time beyond that is measured on a cache prefilled to each probe context.",
            "The paper's printed initial state m₀ = 0 gives NaN once every score is far below 0 (shown in §1); we start from the identity (−∞, 0, 0).",
        ],
        sections: sections, scale: config.scale)
}

// MARK: 1. Exactness: scan = recurrence = masked softmax

func exactness(_ config: Config, _ run: Run) throws -> ReportSection {
    var rng = RNG(seed: run.seeds[0] &+ 11)
    var rows: [[String]] = []
    var worst: [String: Double] = [:]
    // Scores of four kinds: ordinary, ±100, all equal, and so negative that exp underflows.
    let kinds: [(String, (Int, Int) -> Float)] = [
        ("normal, σ = 3", { _, _ in 3 * rng.nextNormal() }),
        ("±100", { _, _ in rng.nextFloat() < 0.5 ? -100 : 100 }),
        ("all equal", { _, _ in 7 }),
        ("all ≤ −800", { _, _ in -800 - 50 * rng.nextFloat() }),
    ]
    for (name, score) in kinds {
        for (n, d) in config.exactLengths.enumerated().map({ ($0.element, [8, 16, 5][$0.offset % 3]) }) {
            let r = 3
            let s = (0..<(r * n)).map { score($0 / n, $0 % n) }
            let v = (0..<(r * n * d)).map { _ in rng.nextNormal() }
            let direct = directPrefixAttention(scores: s.map(Double.init), values: v.map(Double.init), rows: r, n: n, d: d)
            let sequential = sequentialPrefixAttention(scores: s.map(Double.init), values: v.map(Double.init), rows: r, n: n, d: d)
            let seqErr = zip(sequential, direct).map { abs($0 - $1) }.max()!
            var scanErr = 0.0
            for chunks in [1, 2, 3, 7] {
                let o = noGrad { prefixAttention(scores: Tensor(s, shape: [r, n]), values: Tensor(v, shape: [r, n, d]), chunks: chunks) }.toArray()
                scanErr = max(scanErr, zip(o, direct).map { abs(Double($0) - $1) }.max()!)
            }
            worst["float64_recurrence", default: 0] = max(worst["float64_recurrence", default: 0], seqErr)
            worst["float32_scan", default: 0] = max(worst["float32_scan", default: 0], scanErr)
            rows.append([name, "\(n)", "\(d)", formatNumber(seqErr, significantDigits: 2), formatNumber(scanErr, significantDigits: 2)])
        }
    }
    // The paper's initial state (0, 0, 0) against ours on scores that all lie far below 0.
    let low = (0..<64).map { _ in -800 - Double(rng.nextFloat()) }
    var paper = ScanState.paperInitial(2), ours = ScanState.identity(2)
    for s in low { paper = paper ⊕ .leaf(score: s, value: [1, -1]); ours = ours ⊕ .leaf(score: s, value: [1, -1]) }
    // ⊕ keeps the larger m, so from (0, 0, 0) the tokens' weights underflow to 0 and u stays 0.
    let paperNaN = paper.output.contains { $0.isNaN } || paper.u == 0
    run.record("exact_max_abs_error.float64_recurrence", worst["float64_recurrence"]!)
    run.record("exact_max_abs_error.float32_scan", worst["float32_scan"]!)
    run.record("paper_initial_state_fails", paperNaN ? 1 : 0)
    run.record("identity_initial_state_output", ours.output[0])
    log("1. exactness: recurrence vs direct ≤ \(worst["float64_recurrence"]!) (float64), scan ≤ \(worst["float32_scan"]!) (float32); paper's m₀ = 0 fails: \(paperNaN)")
    return ReportSection(title: "1. Exactness: scan = recurrence = masked softmax", markdown: """
        Outputs o_k = Σ_{i≤k} softmax(s)_i v_i for 3 rows, against the direct softmax of every prefix in float64. \
        The float64 recurrence is the sequential (m, u, w) RNN; the float32 scan is `prefixAttention` with each row cut into 1, 2, 3 and 7 chunks \
        (the parallel scan's pieces; the worst of the four). Max absolute error:

        """ + markdownTable(["scores", "N", "d", "float64 recurrence", "float32 scan"], rows) + """

        With the paper's printed initial state (m₀, u₀, w₀) = (0, 0, 0) and 64 scores near −800, u stays \(formatNumber(paper.u)) and \
        the output is \(paper.output.map { formatNumber($0) }.joined(separator: ", ")); from the identity (−∞, 0, 0) it is \
        \(ours.output.map { formatNumber($0, significantDigits: 6) }.joined(separator: ", ")) (the values' mean: all scores are nearly equal).
        """)
}

// MARK: 2. Parameter counts at the paper's efficiency-analysis size

func parameterCounts(_ run: Run) -> ReportSection {
    var rng = RNG(seed: 0)
    let t = TransformerLayer(dModel: 512, heads: 8, ffWidth: 2048, rng: &rng).parameterCount
    let a = AarenLayer(dModel: 512, heads: 8, ffWidth: 2048, rng: &rng).parameterCount
    run.record("params_layer.transformer", Double(t))
    run.record("params_layer.aaren", Double(a))
    run.record("params_layer.aaren_minus_transformer", Double(a - t))
    return ReportSection(title: "2. Parameters of one layer (d_model 512, d_ff 2048)", markdown: """
        Transformer layer \(formatNumber(Double(t))), Aaren layer \(formatNumber(Double(a))): Aaren adds its learned query token (\(a - t) numbers) \
        and keeps W_q, which projects that token.
        """)
}

// MARK: 3. Streaming: state bytes and time per token

func streaming(_ config: Config, _ run: Run) throws -> (section: ReportSection, figures: [ReportFigure]) {
    var rng = RNG(seed: run.seeds[0] &+ 3)
    let c = config.streamDModel
    let aarenLayer = AarenLayer(dModel: c, heads: config.streamHeads, ffWidth: config.streamFfWidth, rng: &rng)
    let tLayer = TransformerLayer(dModel: c, heads: config.streamHeads, ffWidth: config.streamFfWidth, rng: &rng)
    let aaren = AarenStream(aarenLayer)
    let transformer = TransformerStream(tLayer, capacity: max(config.transformerStreamTokens, config.probeContexts.max() ?? 0) + 1)
    // Streaming after N tokens equals one parallel pass over the same N tokens (both layers).
    let check = 256
    let xs = (0..<(check * c)).map { _ in rng.nextNormal() }
    let full = noGrad { (aarenLayer(Tensor(xs, shape: [1, check, c])).toArray(), tLayer(Tensor(xs, shape: [1, check, c])).toArray()) }
    var streamed: ([Float], [Float]) = ([], [])
    var samples: [(layer: Int, n: Int, seconds: Double, bytes: Int)] = []
    func feed(_ layer: StreamingLayer, _ which: Int, tokens: Int, record: inout [Float]) {
        let start = now()
        var x = Tensor(Array(xs[0..<c]), shape: [1, 1, c])
        for n in 1...tokens {
            if n <= check { x = Tensor(Array(xs[((n - 1) * c)..<(n * c)]), shape: [1, 1, c]) }
            let y = layer.step(x)
            if n <= check { record += y.toArray() }
            if n == tokens || n & (n - 1) == 0 || n % 4096 == 0 { samples.append((which, n, now() - start, layer.stateBytes)) }
        }
    }
    feed(aaren, 0, tokens: config.aarenStreamTokens, record: &streamed.0)
    feed(transformer, 1, tokens: config.transformerStreamTokens, record: &streamed.1)
    let streamErr = zip(streamed.0, full.0).map { abs(Double($0 - $1)) }.max()!
    let streamErrT = zip(streamed.1, full.1).map { abs(Double($0 - $1)) }.max()!
    run.record("stream_vs_parallel_max_abs_error.aaren", streamErr)
    run.record("stream_vs_parallel_max_abs_error.transformer", streamErrT)

    // Per-token time at long contexts: the Transformer on a cache prefilled to each probe.
    var probes: [(n: Int, aaren: Double, transformer: Double)] = []
    for n in config.probeContexts {
        let probe = TransformerStream(tLayer, capacity: n + 64)
        probe.prefill(n, rng: &rng)
        let x = Tensor(Array(xs[0..<c]), shape: [1, 1, c])
        let reps = 16
        var t0 = now()
        for _ in 0..<reps { _ = probe.step(x) }
        let tt = (now() - t0) / Double(reps)
        t0 = now()
        for _ in 0..<reps { _ = aaren.step(x) }
        probes.append((n, (now() - t0) / Double(reps), tt))
    }

    // Fitted log-log slopes: cumulative time and state bytes against tokens, over the second half
    // of each stream (the shape the paper's figure states: Aaren 1 and 0, Transformer → 2 and 1).
    func slope(_ pts: [(Double, Double)]) -> Double {
        let xs = pts.map { Foundation.log($0.0) }, ys = pts.map { Foundation.log($0.1) }
        let mx = xs.reduce(0, +) / Double(xs.count), my = ys.reduce(0, +) / Double(ys.count)
        let sxy = zip(xs, ys).map { ($0 - mx) * ($1 - my) }.reduce(0, +), sxx = xs.map { ($0 - mx) * ($0 - mx) }.reduce(0, +)
        return sxx > 0 ? sxy / sxx : 0
    }
    let names = ["aaren", "transformer"], total = [config.aarenStreamTokens, config.transformerStreamTokens]
    for (i, name) in names.enumerated() {
        let mine = samples.filter { $0.layer == i && $0.n >= total[i] / 8 }
        run.record("stream_time_slope.\(name)", slope(mine.map { (Double($0.n), $0.seconds) }))
        run.record("stream_state_bytes_slope.\(name)", slope(mine.map { (Double($0.n), Double(max($0.bytes, 1))) }))
        let last = samples.last { $0.layer == i }!
        run.record("stream_state_bytes_final.\(name)", Double(last.bytes))
        run.record("stream_total_seconds.\(name)", last.seconds)
        run.record("stream_tokens.\(name)", Double(last.n))
        run.recordSeries("stream_cumulative_seconds.\(name)", x: samples.filter { $0.layer == i }.map { Double($0.n) },
                         y: samples.filter { $0.layer == i }.map(\.seconds), seed: nil)
        run.recordSeries("stream_state_bytes.\(name)", x: samples.filter { $0.layer == i }.map { Double($0.n) },
                         y: samples.filter { $0.layer == i }.map { Double($0.bytes) }, seed: nil)
    }
    run.record("stream_per_token_time_slope.transformer", slope(probes.map { (Double($0.n), $0.transformer) }))
    run.record("stream_per_token_time_slope.aaren", slope(probes.map { (Double($0.n), $0.aaren) }))
    if let longest = probes.last {
        run.record("stream_longest_context_token_ms.transformer", longest.transformer * 1e3)
        run.record("stream_longest_context_token_ms.aaren", longest.aaren * 1e3)
        run.record("stream_per_token_time_ratio_at_longest", longest.transformer / longest.aaren)
    }
    run.recordSeries("stream_probe_seconds_per_token.transformer", x: probes.map { Double($0.n) }, y: probes.map(\.transformer), seed: nil)
    run.recordSeries("stream_probe_seconds_per_token.aaren", x: probes.map { Double($0.n) }, y: probes.map(\.aaren), seed: nil)
    log("3. streaming: Aaren \(config.aarenStreamTokens) tokens in \(formatNumber(samples.last { $0.layer == 0 }!.seconds)) s, Transformer \(config.transformerStreamTokens) in \(formatNumber(samples.last { $0.layer == 1 }!.seconds)) s; stream = parallel to \(streamErr), \(streamErrT)")

    let figures = run.figuresDir
    func series(_ i: Int, _ y: (Double, Int) -> Double) -> Series {
        let mine = samples.filter { $0.layer == i }
        return Series(name: names[i], x: mine.map { Double($0.n) }, y: mine.map { y($0.seconds, $0.bytes) })
    }
    try Figure(title: "Streaming state, one layer (d_model \(c)): bytes the next token depends on", xLabel: "tokens seen", yLabel: "state bytes",
               logX: true, logY: true, series: [series(0) { Double($1) }, series(1) { Double($1) }])
        .render(to: figures + "/stream_memory.png")
    try Figure(title: "Streaming time, one layer (d_model \(c)): cumulative seconds", xLabel: "tokens seen", yLabel: "seconds",
               logX: true, logY: true, series: [series(0) { s, _ in s }, series(1) { s, _ in s }])
        .render(to: figures + "/stream_time.png")
    try Figure(title: "Time of one more token at context N (Transformer: prefilled cache)", xLabel: "context N (tokens)",
               yLabel: "ms per token", logX: true, logY: true,
               series: [Series(name: "aaren", x: probes.map { Double($0.n) }, y: probes.map { $0.aaren * 1e3 }),
                        Series(name: "transformer", x: probes.map { Double($0.n) }, y: probes.map { $0.transformer * 1e3 })])
        .render(to: figures + "/stream_per_token.png")
    let m = run.measurements
    func v(_ k: String) -> String { m[k].map { formatNumber($0.mean, significantDigits: 3) } ?? "–" }
    let section = ReportSection(title: "3. Streaming one token at a time", markdown: """
        One layer at d_model \(c), d_ff \(config.streamFfWidth), \(config.streamHeads) heads, batch 1. Aaren streamed \(config.aarenStreamTokens) tokens, \
        the Transformer \(config.transformerStreamTokens) (its KV cache then holds \(v("stream_state_bytes_final.transformer")) bytes; Aaren's state \
        \(v("stream_state_bytes_final.aaren")) bytes at every step). Fitted log-log slopes over the last 7/8 of each stream: state bytes \
        Aaren \(v("stream_state_bytes_slope.aaren")), Transformer \(v("stream_state_bytes_slope.transformer")); cumulative time Aaren \
        \(v("stream_time_slope.aaren")), Transformer \(v("stream_time_slope.transformer")) (it tends to 2 only once reading the cache outweighs the \
        projections and FFN every token pays). Per-token time on prefilled caches rises with slope \(v("stream_per_token_time_slope.transformer")) \
        for the Transformer and \(v("stream_per_token_time_slope.aaren")) for Aaren; at N = \(config.probeContexts.max() ?? 0) the Transformer needs \
        \(v("stream_longest_context_token_ms.transformer")) ms per token against Aaren's \(v("stream_longest_context_token_ms.aaren")) ms. \
        The first 256 streamed outputs equal one parallel pass to \(formatNumber(streamErr, significantDigits: 2)) (Aaren) and \
        \(formatNumber(streamErrT, significantDigits: 2)) (Transformer).
        """)
    return (section, [
        ReportFigure(path: "figures/stream_memory.png", caption: "State bytes against tokens seen: Aaren's (m, u, w) is constant, the KV cache grows linearly."),
        ReportFigure(path: "figures/stream_time.png", caption: "Cumulative time to stream N tokens one at a time."),
        ReportFigure(path: "figures/stream_per_token.png", caption: "Time of one more token at context N: the Transformer reads its whole cache, Aaren only its state."),
    ])
}

// MARK: 4. JapaneseVowels classification

func vowelModel(_ kind: LayerKind, _ c: Config, classes: Int, seed: UInt64) -> SequenceModel {
    SequenceModel(kind: kind, channels: 12, outputs: classes, dModel: c.dModel, heads: c.heads, ffWidth: c.ffWidth, layers: c.layers, seed: seed)
}

/// The fraction of sequences whose largest logit at their last step is their label (first index wins ties).
func lastStepAccuracy(_ model: SequenceModel, _ x: Tensor, lengths: [Int], labels: [Int32]) -> Double {
    let logits = model.lastStep(x, lengths: lengths), k = logits.shape[1]
    var right = 0
    for i in 0..<labels.count {
        let row = Array(UnsafeBufferPointer(start: logits.data + i * k, count: k))
        if row.firstIndex(of: row.max()!)! == Int(labels[i]) { right += 1 }
    }
    return Double(right) / Double(labels.count)
}

/// Cases i of a set as one padded batch (B, maxLength, channels), standardised by (mean, std).
func batch(_ set: LabelledSeries, _ index: [Int], length: Int, mean: [Float], std: [Float]) -> (x: Tensor, lengths: [Int], labels: [Int32]) {
    let ch = set.channels
    var x = [Float](repeating: 0, count: index.count * length * ch)
    for (b, i) in index.enumerated() {
        for t in 0..<set.lengths[i] { for d in 0..<ch { x[(b * length + t) * ch + d] = (set.cases[i][t * ch + d] - mean[d]) / std[d] } }
    }
    return (Tensor(x, shape: [index.count, length, ch]), index.map { set.lengths[$0] }, index.map { Int32(set.labels[$0]) })
}

func vowels(_ config: Config, _ run: Run) throws -> ReportSection {
    let store = DataStore(root: run.root)
    let trainSet = try parseTS(String(decoding: try store.load(.japaneseVowelsTrain), as: UTF8.self), file: DataFile.japaneseVowelsTrain.name)
    let testSet = try parseTS(String(decoding: try store.load(.japaneseVowelsTest), as: UTF8.self), file: DataFile.japaneseVowelsTest.name)
    let ch = trainSet.channels, length = max(trainSet.maxLength, testSet.maxLength)
    // Per-channel standardisation from the training cases only.
    var mean = [Float](repeating: 0, count: ch), std = [Float](repeating: 0, count: ch), count: Float = 0
    for (i, c) in trainSet.cases.enumerated() { for t in 0..<trainSet.lengths[i] { for d in 0..<ch { mean[d] += c[t * ch + d] } }; count += Float(trainSet.lengths[i]) }
    mean = mean.map { $0 / count }
    for (i, c) in trainSet.cases.enumerated() { for t in 0..<trainSet.lengths[i] { for d in 0..<ch { std[d] += pow(c[t * ch + d] - mean[d], 2) } } }
    std = std.map { max(($0 / count).squareRoot(), 1e-6) }
    log("4. JapaneseVowels: \(trainSet.count) train / \(testSet.count) test cases, \(ch) channels, lengths \(trainSet.lengths.min()!)–\(length), \(trainSet.classes.count) classes")
    let testBatch = batch(testSet, Array(0..<testSet.count), length: length, mean: mean, std: std)
    let trainAll = batch(trainSet, Array(0..<trainSet.count), length: length, mean: mean, std: std)
    func accuracy(_ model: SequenceModel, _ b: (x: Tensor, lengths: [Int], labels: [Int32])) -> Double {
        lastStepAccuracy(model, b.x, lengths: b.lengths, labels: b.labels)
    }
    var rows: [[String]] = []
    var acc: [LayerKind: [Double]] = [:]
    for kind in LayerKind.allCases {
        for seed in run.seeds {
            let model = vowelModel(kind, config, classes: trainSet.classes.count, seed: seed)
            let b = config.vowels.batchSize
            let h = try train(model, config: config.vowels, seed: seed,
                              checkpoint: try run.checkpoint(seed: seed, part: "vowels-\(kind.rawValue)", model: "vowels-\(kind.rawValue)"),
                              label: "[vowels \(kind.rawValue) s\(seed)] ", loss: { rng in
                let index = (0..<b).map { _ in rng.nextInt(below: trainSet.count) }
                let x = batch(trainSet, index, length: length, mean: mean, std: std)
                return crossEntropy(model.lastStep(x.x, lengths: x.lengths), targets: x.labels)
            }, evaluate: { _ in
                [("train_accuracy", accuracy(model, trainAll)), ("test_accuracy", accuracy(model, testBatch))]
            })
            let a = noGrad { accuracy(model, testBatch) }
            acc[kind, default: []].append(a)
            run.record("vowels_test_accuracy.\(kind.rawValue)", a, seed: seed)
            run.record("vowels_train_loss_final.\(kind.rawValue)", h.trainLoss.last!, seed: seed)
            run.recordSeries("vowels_eval_test_accuracy.\(kind.rawValue)", x: h.evalIters.map(Double.init), y: h.eval("test_accuracy"), seed: seed)
            log("[vowels \(kind.rawValue) s\(seed)] test accuracy \(formatNumber(a))")
            if seed == run.seeds[0] {
                try writeActivations(model, testSet, length: length, mean: mean, std: std, run: run, seed: seed, part: "vowels-\(kind.rawValue)")
                if kind == .aaren { try scanWeightsFigure(model, testBatch.x, run) }
            }
        }
    }
    for seed in run.seeds {
        let d = run.perSeed[seed]!["vowels_test_accuracy.aaren"]! - run.perSeed[seed]!["vowels_test_accuracy.transformer"]!
        run.record("vowels_delta_accuracy.aaren_vs_transformer", d, seed: seed)
    }
    let m = run.measurements
    for kind in LayerKind.allCases {
        let v = m["vowels_test_accuracy.\(kind.rawValue)"]!
        rows.append([kind.rawValue, formatNumber(v.mean, significantDigits: 4), v.std.map { formatNumber($0, significantDigits: 2) } ?? "–",
                     v.values.map { formatNumber($0, significantDigits: 4) }.joined(separator: ", ")])
    }
    try Figure(title: "JapaneseVowels test accuracy per seed", xLabel: "seed", yLabel: "accuracy",
               series: LayerKind.allCases.map { k in Series(name: k.rawValue, x: run.seeds.map { Double($0) }, y: acc[k]!, style: .points) },
               xRange: seedRange(run.seeds))
        .render(to: run.figuresDir + "/vowels_accuracy.png")
    return ReportSection(title: "4. JapaneseVowels (UEA): test accuracy", markdown: """
        \(trainSet.count) training and \(testSet.count) test cases, 12 channels, lengths 7–29, 9 speakers; both models \(config.layers) layers, \
        d_model \(config.dModel), \(config.heads) heads, d_ff \(config.ffWidth), \(config.vowels.maxIters + 1) updates of batch \(config.vowels.batchSize), \
        the class read from the output at each sequence's last step. Mean, sample std and every seed (\(run.seeds.map(String.init).joined(separator: ", "))):

        """ + markdownTable(["model", "accuracy", "std", "per seed"], rows) + """

        Aaren − Transformer, paired by seed: \(formatNumber(m["vowels_delta_accuracy.aaren_vs_transformer"]!.mean, significantDigits: 3)).
        """)
}

/// The x range of a per-seed plot (gnuplot cannot autoscale a single point).
func seedRange(_ seeds: [UInt64]) -> ClosedRange<Double> { (Double(seeds.min()!) - 0.5)...(Double(seeds.max()!) + 0.5) }

/// activations.h5 of one trained classifier on the first 16 test cases: the standardised inputs,
/// their lengths and labels, every layer's output, Aaren's scan inputs (scores, values), the
/// logits; `reference/check_pytorch.py` recomputes them from checkpoint.h5 alone.
func writeActivations(_ model: SequenceModel, _ set: LabelledSeries, length: Int, mean: [Float], std: [Float], run: Run,
                      seed: UInt64, part: String) throws {
    let b = batch(set, Array(0..<min(16, set.count)), length: length, mean: mean, std: std)
    try noGrad {
        try H5File.writeAtomically(to: try run.activationsPath(seed: seed, part: part)) { f in
            try f.setAttribute("kind", .string("activations"))
            try f.setAttribute("layer_kind", .string(model.kind.rawValue))
            try f.setAttribute("config", .string(run.configJSON))
            try run.provenance.attach(to: f)
            try f.write("input", b.x.toArray(), shape: b.x.shape)
            try f.write("lengths", b.lengths.map(Int64.init), shape: [b.lengths.count])
            try f.write("labels", b.labels, shape: [b.labels.count])
            var h = model.embed(b.x)
            try f.write("embedding", h.toArray(), shape: h.shape)
            for (i, layer) in model.layers.enumerated() {
                if let a = layer as? AarenLayer {
                    let (scores, values) = a.scoresAndValues(h)
                    try f.write("layers.\(i).scores", scores.toArray(), shape: scores.shape)
                    try f.write("layers.\(i).values", values.toArray(), shape: values.shape)
                }
                h = layer(h)
                try f.write("layers.\(i)", h.toArray(), shape: h.shape)
            }
            let logits = model.lastStep(b.x, lengths: b.lengths)
            try f.write("logits", logits.toArray(), shape: logits.shape)
        }
    }
}

/// The softmax weights of Aaren layer 0, head 0 on the first test case: row k = output step, column i = input step.
func scanWeightsFigure(_ model: SequenceModel, _ x: Tensor, _ run: Run) throws {
    guard let layer = model.layers.first as? AarenLayer else { return }
    let n = x.shape[1]
    let (s, _) = noGrad { layer.scoresAndValues(model.embed(x.slice(axis: 0, 0..<1))) }
    var weights = [Double](repeating: 0, count: n * n)
    let row = (0..<n).map { Double(s.data[$0]) }                     // batch 0, head 0
    for k in 0..<n {
        let mx = row[0...k].max()!, z = row[0...k].map { Foundation.exp($0 - mx) }.reduce(0, +)
        for i in 0...k { weights[k * n + i] = Foundation.exp(row[i] - mx) / z }
    }
    try HeatmapFigure(values: weights, rows: n, cols: n, title: "Aaren layer 0 head 0: weight of step i in output k",
                      xLabel: "input step i", yLabel: "output step k", colormap: .viridis, range: 0...1)
        .render(to: run.figuresDir + "/scan_weights.png")
}

// MARK: 5. CO2 forecasting

func forecasting(_ config: Config, _ run: Run) throws -> ReportSection {
    let co2 = try parseCO2(String(decoding: try DataStore(root: run.root).load(.co2), as: UTF8.self), file: DataFile.co2.name)
    let y = co2.values.map(Double.init), n = y.count
    // Models see first differences, standardised by the training part's mean and std.
    let diff = (1..<n).map { y[$0] - y[$0 - 1] }                     // diff[t-1] = y[t] − y[t−1]
    let split = n - config.co2TestWeeks                              // weeks before `split` train the models
    let trainDiff = Array(diff[0..<(split - 1)])
    let mu = trainDiff.reduce(0, +) / Double(trainDiff.count)
    let sd = (trainDiff.map { ($0 - mu) * ($0 - mu) }.reduce(0, +) / Double(trainDiff.count)).squareRoot()
    let z = diff.map { Float(($0 - mu) / sd) }
    let w = config.co2Window, horizon = config.co2Horizon
    log("5. CO2: \(n) weeks (\(co2.filled.filter { $0 }.count) filled by interpolation), last \(config.co2TestWeeks) held out")
    // Forecast origins inside the test part: forecast weeks origin+1 … origin+horizon from the
    // `w` differences before them.
    let origins = Array(stride(from: split, through: n - 1 - horizon, by: config.co2Stride))
    let truth = origins.map { o in Array(y[(o + 1)...(o + horizon)]) }
    // Seasonal naive: the value 52 weeks before each forecast week.
    let naive = origins.map { o in (1...horizon).map { y[o + $0 - 52] } }
    func errors(_ f: [[Double]]) -> (mse: Double, mae: Double) {
        let e = zip(f, truth).flatMap { zip($0, $1).map { $0 - $1 } }
        return (e.map { $0 * $0 }.reduce(0, +) / Double(e.count), e.map(abs).reduce(0, +) / Double(e.count))
    }
    let naiveErr = errors(naive)
    run.record("co2_mse.seasonal_naive", naiveErr.mse)
    run.record("co2_mae.seasonal_naive", naiveErr.mae)
    var lastForecast: [LayerKind: [Double]] = [:]
    for kind in LayerKind.allCases {
        for seed in run.seeds {
            let model = SequenceModel(kind: kind, channels: 1, outputs: 1, dModel: config.dModel, heads: config.heads, ffWidth: config.ffWidth,
                                      layers: config.layers, seed: seed)
            let b = config.co2.batchSize
            // Next-difference prediction at every step of random training windows (teacher forcing).
            _ = try train(model, config: config.co2, seed: seed,
                          checkpoint: try run.checkpoint(seed: seed, part: "co2-\(kind.rawValue)", model: "co2-\(kind.rawValue)"),
                          label: "[co2 \(kind.rawValue) s\(seed)] ", loss: { rng in
                let starts = (0..<b).map { _ in rng.nextInt(below: split - 2 - w) }
                let x = Tensor(starts.flatMap { z[$0..<($0 + w)] }, shape: [b, w, 1])
                let target = Tensor(starts.flatMap { z[($0 + 1)...($0 + w)] }, shape: [b, w, 1])
                return (model(x) - target).square().mean()
            }, evaluate: { _ in [] })
            // Roll out: feed each predicted difference back, horizon steps, from every origin at once.
            let forecasts: [[Double]] = noGrad {
                var windows = origins.map { o in Array(z[(o - w)..<o]) }        // diffs up to y[o] − y[o−1]
                var out = origins.map { _ in [Double]() }
                for _ in 0..<horizon {
                    let pred = model(Tensor(windows.flatMap { $0 }, shape: [windows.count, w, 1]))
                    for i in windows.indices {
                        let next = pred.data[i * w + w - 1]
                        windows[i] = Array(windows[i].dropFirst()) + [next]
                        out[i].append((out[i].last ?? y[origins[i]]) + Double(next) * sd + mu)
                    }
                }
                return out
            }
            let e = errors(forecasts)
            run.record("co2_mse.\(kind.rawValue)", e.mse, seed: seed)
            run.record("co2_mae.\(kind.rawValue)", e.mae, seed: seed)
            run.record("co2_mse_ratio_to_naive.\(kind.rawValue)", e.mse / naiveErr.mse, seed: seed)
            if seed == run.seeds[0] { lastForecast[kind] = forecasts.last! }
            log("[co2 \(kind.rawValue) s\(seed)] MSE \(formatNumber(e.mse)), MAE \(formatNumber(e.mae)) (seasonal naive \(formatNumber(naiveErr.mse)), \(formatNumber(naiveErr.mae)))")
        }
    }
    for seed in run.seeds {
        run.record("co2_mse_ratio.aaren_over_transformer", run.perSeed[seed]!["co2_mse.aaren"]! / run.perSeed[seed]!["co2_mse.transformer"]!, seed: seed)
    }
    let weeks = (1...horizon).map(Double.init)
    try Figure(title: "CO2 forecast from the last origin (\(co2.dates[origins.last!]))", xLabel: "weeks ahead", yLabel: "CO2 (ppmv)",
               series: [Series(name: "truth", x: weeks, y: truth.last!), Series(name: "seasonal naive", x: weeks, y: naive.last!)]
                   + LayerKind.allCases.map { Series(name: $0.rawValue, x: weeks, y: lastForecast[$0]!) })
        .render(to: run.figuresDir + "/co2_forecast.png")
    let m = run.measurements
    let rows = LayerKind.allCases.map { k in
        [k.rawValue, "\(formatNumber(m["co2_mse.\(k.rawValue)"]!.mean, significantDigits: 3)) ± \(formatNumber(m["co2_mse.\(k.rawValue)"]!.std ?? 0, significantDigits: 2))",
         "\(formatNumber(m["co2_mae.\(k.rawValue)"]!.mean, significantDigits: 3)) ± \(formatNumber(m["co2_mae.\(k.rawValue)"]!.std ?? 0, significantDigits: 2))"]
    } + [["seasonal naive", formatNumber(naiveErr.mse, significantDigits: 3), formatNumber(naiveErr.mae, significantDigits: 3)]]
    return ReportSection(title: "5. Mauna Loa CO2: \(horizon)-week forecasts", markdown: """
        \(n) weekly values, \(co2.filled.filter { $0 }.count) missing weeks filled by linear interpolation between their observed neighbours. \
        The models train on the first \(split) weeks' first differences (standardised; next-difference prediction at every step of \(w)-week windows) \
        and forecast \(horizon) weeks ahead by feeding their own predictions back, from \(origins.count) origins every \(config.co2Stride) weeks in the held-out last \
        \(config.co2TestWeeks) weeks. The seasonal-naive forecast repeats the value 52 weeks earlier. MSE (ppmv²) and MAE (ppmv), mean ± std over seeds:

        """ + markdownTable(["forecast", "MSE", "MAE"], rows))
}

// MARK: 6. Associative recall: the fixed query's limit

/// Sequences of P pair tokens and one question: token i carries one-hot(k_i) in its first K channels
/// and one-hot(v_i) in its last K (distinct keys per sequence); the question carries one-hot(k_j)
/// alone, for one of the P keys; the target is v_j (0..<K). One softmax-attention layer whose query
/// is the question can read the answer off the matching pair.
func recallBatch(_ count: Int, keys: Int, pairs: Int, rng: inout RNG) -> (x: Tensor, targets: [Int32]) {
    let n = pairs + 1, channels = 2 * keys
    var x = [Float](repeating: 0, count: count * n * channels), targets: [Int32] = []
    for b in 0..<count {
        var pool = Array(0..<keys)
        for i in 0..<pairs { pool.swapAt(i, i + rng.nextInt(below: keys - i)) }       // P distinct keys
        let values = (0..<pairs).map { _ in rng.nextInt(below: keys) }
        for i in 0..<pairs {
            x[(b * n + i) * channels + pool[i]] = 1
            x[(b * n + i) * channels + keys + values[i]] = 1
        }
        let asked = rng.nextInt(below: pairs)
        x[(b * n + n - 1) * channels + pool[asked]] = 1
        targets.append(Int32(values[asked]))
    }
    return (Tensor(x, shape: [count, n, channels]), targets)
}

func recall(_ config: Config, _ run: Run) throws -> ReportSection {
    let (k, p) = (config.recallKeys, config.recallPairs), n = p + 1
    var testRNG = RNG(seed: run.seeds[0] &+ 0xEC41)
    let test = recallBatch(config.recallTestCases, keys: k, pairs: p, rng: &testRNG)
    let lengths = [Int](repeating: n, count: config.recallTestCases)
    func accuracy(_ model: SequenceModel) -> Double { lastStepAccuracy(model, test.x, lengths: lengths, labels: test.targets) }
    var acc: [LayerKind: [Double]] = [:]
    for kind in LayerKind.allCases {
        for seed in run.seeds {
            let model = SequenceModel(kind: kind, channels: 2 * k, outputs: k, dModel: config.dModel, heads: config.heads,
                                      ffWidth: config.ffWidth, layers: config.layers, seed: seed)
            let b = config.recall.batchSize
            _ = try train(model, config: config.recall, seed: seed,
                          checkpoint: try run.checkpoint(seed: seed, part: "recall-\(kind.rawValue)", model: "recall-\(kind.rawValue)"),
                          label: "[recall \(kind.rawValue) s\(seed)] ", loss: { rng in
                let batch = recallBatch(b, keys: k, pairs: p, rng: &rng)
                return crossEntropy(model.lastStep(batch.x, lengths: [Int](repeating: n, count: b)), targets: batch.targets)
            }, evaluate: { _ in [("test_accuracy", accuracy(model))] })
            let a = noGrad { accuracy(model) }
            acc[kind, default: []].append(a)
            run.record("recall_test_accuracy.\(kind.rawValue)", a, seed: seed)
            log("[recall \(kind.rawValue) s\(seed)] test accuracy \(formatNumber(a))")
        }
    }
    for seed in run.seeds {
        run.record("recall_delta_accuracy.transformer_vs_aaren",
                   run.perSeed[seed]!["recall_test_accuracy.transformer"]! - run.perSeed[seed]!["recall_test_accuracy.aaren"]!, seed: seed)
    }
    try Figure(title: "Associative recall (\(p) pairs of \(k) keys): test accuracy per seed", xLabel: "seed", yLabel: "accuracy",
               series: LayerKind.allCases.map { kd in Series(name: kd.rawValue, x: run.seeds.map { Double($0) }, y: acc[kd]!, style: .points) },
               hLines: [ReferenceLine(label: "chance 1/\(k)", y: 1 / Double(k))], xRange: seedRange(run.seeds))
        .render(to: run.figuresDir + "/recall_accuracy.png")
    let m = run.measurements
    let rows = LayerKind.allCases.map { kd -> [String] in
        let v = m["recall_test_accuracy.\(kd.rawValue)"]!
        return [kd.rawValue, formatNumber(v.mean, significantDigits: 3), v.std.map { formatNumber($0, significantDigits: 2) } ?? "–"]
    }
    return ReportSection(title: "6. Associative recall: a limitation that follows from the math", markdown: """
        Each sequence is \(p) tokens that each carry a one-hot key and a one-hot value (\(k) keys, \(k) values, distinct keys), then a token that \
        carries one of the keys alone; the class is its value, read at the last step (chance 1/\(k); knowing only which values occur gives 1/\(p)). Same models and loop as above, \(config.recall.maxIters + 1) updates of \(config.recall.batchSize) \
        fresh sequences, \(config.recallTestCases) test sequences:

        """ + markdownTable(["model", "test accuracy", "std"], rows) + """

        Aaren's weights exp(q·k_i) come from a query learned once per head and layer, so the weight a pair gets cannot depend on the key being asked: \
        what reaches the last step is, per head, one average of the pairs weighted the same way whatever the question. Its \(config.heads) × \(config.layers) \
        learned queries can favour a few keys each and carry their values, but cannot bind all \(k) keys to their values; a Transformer's last step \
        forms its query from the asked key itself and attends to the matching pair (one softmax head can do it exactly).
        """)
}

runMain(Paper<Config>(
    name: "aaren", title: "Aaren: attention as an RNN",
    presets: [("ci", ci, "small streaming (d 128, 2k tokens), 2 seeds, short training (~1 min, gated by make check)"),
              ("default", Config(), "streaming at d_model 512 to 100k tokens, JapaneseVowels and CO2 with 5 seeds per model (~16 min on 2 cores)")],
    run: replicate))
