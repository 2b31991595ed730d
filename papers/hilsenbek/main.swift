// Hilsenbek 2024, "Breaking the Attention Bottleneck" (arXiv 2406.10906): a parameter-free
// "generative function" that compares each token with the previous one, in place of nanoGPT's
// attention or of its MLP activation. The abstract claims "a smaller loss while having a
// smaller model" and that "the loss further drops by incorporating an average context vector".
//
// The paper's body, numbers and configuration are not available; the mechanism comes from the
// author's later public code (../shared/papers/hilsenbek.md §1) and is implemented here from
// the math only (papers/hilsenbek/Hilsenbek/CausalReduction.swift), never from the AGPL code. The testbed is
// nanoGPT's README CPU run (papers/nanogpt), whose 1.88 is the only number to anchor on.
//
// Reads top to bottom: config and presets → data → per variant and seed: model, training
// (checkpointed, resumable), causality test, prefix-only loss, activations, samples → paired
// differences for the claims → figures → report. Run with `make replicate PAPER=hilsenbek`.

import Foundation
import Hilsenbek
import Replicate

// MARK: - Config (nanoGPT's names; `key=value` on the command line overrides any of them)

struct Config: PaperConfig {
    var model = NanoGPTModel()      // nanoGPT's README CPU line: --n_layer=4 --n_head=4 --n_embd=128 --block_size=64 --dropout=0.0
    var train = TrainConfig()       // config/train_shakespeare_char.py plus the README's CPU overrides, shared by all variants
    // this replication
    var variants: [String] = Variant.allCases.map(\.rawValue)
    var seeds: [UInt64] = [1, 2, 3]
    var sampleChars = 300
    /// Batches of validation windows for the window vs prefix-only loss (the leak diagnostic).
    var leakEvalBatches = 2

    /// The claims' scale: "baby-cpu" is nanoGPT's README CPU run (L4 H4 C128, block 64, batch 12,
    /// 2000 iterations), the author's likely testbed; anything else is "ci".
    var scale: String { model == NanoGPTModel() && train.batchSize == 12 && train.maxIters == 2000 ? "baby-cpu" : "ci" }

    func validate() throws {
        try model.validate()
        try train.validate()
        _ = try Variant.parse(variants)
        try requireConfig(!variants.isEmpty, "variants", variants, "must name at least one variant")
        try requireConfig(sampleChars, "sample_chars", in: 0...1_000_000)
        try requireConfig(leakEvalBatches, "leak_eval_batches", in: 1...10_000)
    }
}

let ci: Config = {
    var c = Config()
    c.train.maxIters = 100; c.train.lrDecayIters = 100; c.train.warmupIters = 10
    c.train.evalInterval = 50; c.train.evalIters = 4; c.train.checkpointInterval = 50
    c.seeds = [1]; c.sampleChars = 100; c.leakEvalBatches = 1
    return c
}()

// MARK: - The experiment

func replicate(_ config: Config, _ run: Run) throws {
    let variants = try Variant.parse(config.variants)
    let data = try CharDataset.tinyShakespeare(store: DataStore(root: run.root))
    let gpt = config.model.gpt(vocabSize: data.vocabSize)
    let t = config.model.blockSize
    // One fixed validation window (the first block_size characters of val) for activations
    // and the selection heatmaps.
    let window = Array(data.val[0..<t]), windowTargets = Array(data.val[1...t])
    var valCurves: [Variant: [[Double]]] = [:], trainCurves: [Variant: [[Double]]] = [:]
    var evalIters: [Double] = []
    var samples: [String] = []
    var causality: [Variant: [CausalityResult]] = [:]

    for v in variants {
        for seed in run.seeds {
            let label = "[\(v.rawValue) s\(seed)] "
            let model = GPT(gpt, seed: seed, generativeFunction: v.placement)
            let started = now()
            let h = try trainLanguageModel(model, data: data, block: t, config: config.train, seed: seed,
                                           checkpoint: try run.checkpoint(seed: seed, part: v.rawValue, model: "hilsenbek-\(v.rawValue)"),
                                           label: label)
            run.recordLanguageModelTraining(h, seed: seed, part: v.rawValue, tokensPerStep: config.train.batchSize * t,
                                            seconds: now() - started, label: label)
            valCurves[v, default: []].append(h.eval("val_loss"))
            trainCurves[v, default: []].append(h.trainLoss)
            evalIters = h.evalIters.map(Double.init)

            // Causality test: do the logits at positions ≤ t move when tokens after t change?
            let c = causalityViolation(model)
            causality[v, default: []].append(c)
            run.record("causal.\(v.rawValue)", c.isCausal ? 1 : 0, seed: seed)
            run.record("causality_max_change.\(v.rawValue)", Double(c.maxChange), seed: seed)
            log("\(label)causality: \(c)")

            // The same validation windows seen whole (teacher forcing) and prefix by prefix (generation).
            let leak = windowAndPrefixLoss(model, data: data, batch: config.train.batchSize, block: t,
                                           batches: config.leakEvalBatches, seed: 4242)
            run.record("val_loss_window.\(v.rawValue)", leak.window, seed: seed)
            run.record("val_loss_prefix_only.\(v.rawValue)", leak.prefixOnly, seed: seed)
            run.record("future_gain.\(v.rawValue)", leak.prefixOnly - leak.window, seed: seed)

            // Activations of the fixed window: nanoGPT's (embedding, blocks, attention maps,
            // ln_f, logits) plus every reduction's input, output and selected operand.
            let acts = model.activations(window, batch: 1, time: t)
                + causalReductionActivations(model, window, batch: 1, time: t, mlpReduction: v.mlpReduction)
            try run.writeLanguageModelActivations(
                seed: seed, part: v.rawValue, window: window, targets: windowTargets, text: data.decode(window),
                loss: Double(noGrad { model.loss(window, targets: windowTargets, batch: 1, time: t).item() }),
                tensors: acts, attributes: [("variant", v.rawValue)])
            // How often each layer's min/max takes the previous position (or the context), t ≥ 1.
            for (name, s) in acts where name.hasSuffix("reduction_source") {
                let layer = name.split(separator: ".")[2], values = s.toArray(), c = s.shape[2]
                let counted = values[c...]   // drop t = 0, where the position is compared with itself
                let where_ = name.contains(".mlp.") ? "mlp_l\(layer)" : "l\(layer)"
                run.record("select_prev_fraction.\(v.rawValue).\(where_)", Double(counted.filter { $0 == 1 }.count) / Double(counted.count), seed: seed)
                if case .attention(_, let ctx) = v.placement, ctx != .none {
                    run.record("select_context_fraction.\(v.rawValue).\(where_)", Double(counted.filter { $0 == 2 }.count) / Double(counted.count), seed: seed)
                }
            }

            var rng = RNG(seed: seed)
            let text = data.decode(model.generate(prompt: data.encode("\n"), count: config.sampleChars, rng: &rng))
            samples.append("**\(v.number). \(v.rawValue), seed \(seed):**\n\n```\n\(text)\n```")
        }
        let probe = GPT(gpt, seed: 0, generativeFunction: v.placement)
        run.record("params_nonembedding.\(v.rawValue)", Double(probe.nonEmbeddingParameterCount))
        run.record("params_millions.\(v.rawValue)", Double(probe.nonEmbeddingParameterCount) / 1e6)
        run.record("params_total.\(v.rawValue)", Double(probe.parameterCount))
    }

    // MARK: Paired differences (same seed, same batches) for the abstract's two claims
    func delta(_ a: Variant, _ b: Variant, _ metric: String = "val_loss_best") {
        guard variants.contains(a) && variants.contains(b) else { return }
        for seed in run.seeds {
            let x = run.perSeed[seed]!["\(metric).\(a.rawValue)"]!, y = run.perSeed[seed]!["\(metric).\(b.rawValue)"]!
            run.record("delta_\(metric).\(a.rawValue)_vs_\(b.rawValue)", x - y, seed: seed)
        }
    }
    for v in [Variant.min, .max, .mean, .maxContext, .maxPrefixContext, .mlpMin] { delta(v, .attention) }
    delta(.maxContext, .max); delta(.maxPrefixContext, .max)
    delta(.maxContext, .max, "val_loss_prefix_only")
    if variants.contains(.min) && variants.contains(.attention) {
        run.record("delta_params_millions.min_vs_attention", run.shared["params_millions.min"]! - run.shared["params_millions.attention"]!)
    }

    // MARK: Figures
    let figures = run.figuresDir
    let m = run.measurements
    let nSeeds = run.seeds.count
    try Figure(title: "Validation loss, nanoGPT baby CPU config: attention vs the generative function",
               xLabel: "iteration", yLabel: "val loss (nats/char)",
               series: variants.map { Series.overSeeds(name: "\($0.number). \($0.rawValue)", x: evalIters, runs: valCurves[$0]!) },
               reported: [ReportedPoint(x: Double(config.train.maxIters), y: 1.88, label: "nanoGPT README: 1.88")],
               hLines: [ReferenceLine(label: "1.88 (nanoGPT README, attention)", y: 1.88)],
               // The iteration-0 loss (~4.2) would squeeze the end of training into a few pixels.
               size: PixelSize(width: 1000, height: 600), yRange: config.scale == "baby-cpu" ? 1.4...2.8 : nil, legend: .outsideRight)
        .render(to: figures + "/val_loss.png")
    let smooth = Swift.max(1, Swift.min(50, config.train.maxIters / 20))
    try Figure(title: "Training loss (moving average over \(smooth) iterations, mean of \(nSeeds) seed(s))",
               xLabel: "iteration", yLabel: "train loss (nats/char)",
               series: variants.map { v -> Series in
                   let runs = trainCurves[v]!
                   let mean = runs[0].indices.map { i in runs.map { $0[i] }.reduce(0, +) / Double(runs.count) }
                   return Series(name: "\(v.number). \(v.rawValue)", x: mean.indices.map(Double.init), y: movingAverage(mean, window: smooth))
               },
               hLines: [ReferenceLine(label: "1.88", y: 1.88)],
               size: PixelSize(width: 1000, height: 600), yRange: config.scale == "baby-cpu" ? 1.2...3.0 : nil, legend: .outsideRight)
        .render(to: figures + "/train_loss.png")
    try Figure(title: "Best validation loss vs parameter count (mean, bars: min–max over \(nSeeds) seed(s))",
               xLabel: "parameters without wpe (millions, as nanoGPT prints)", yLabel: "best val loss (nats/char)",
               series: variants.map { v -> Series in
                   let vals = m["val_loss_best.\(v.rawValue)"]!.values
                   let mean = vals.reduce(0, +) / Double(vals.count)
                   return Series(name: "\(v.number). \(v.rawValue)", x: [run.shared["params_millions.\(v.rawValue)"]!], y: [mean],
                                 yLow: [vals.min()!], yHigh: [vals.max()!], style: .points, spread: .errorBars)
               },
               reported: [ReportedPoint(x: 0.795904, y: 1.88, label: "nanoGPT README: 1.88 at 0.80M")],
               size: PixelSize(width: 1000, height: 600), xRange: 0.5...0.9, legend: .outsideRight)
        .render(to: figures + "/loss_vs_params.png")

    // Which operand the min/max took, per position (rows) and channel (columns), seed 1's model.
    let seed0 = run.seeds[0]
    var heatmaps: [ReportFigure] = []
    let chars = data.decode(window).map { $0 == "\n" ? "⏎" : $0 == " " ? "␣" : String($0) }
    for (v, layer) in [(Variant.min, 0), (.min, config.model.nLayer - 1), (.maxContext, 0)] where variants.contains(v) {
        let f = try H5File.open(try run.activationsPath(seed: seed0, part: v.rawValue))
        let s = try f.read("transformer.h.\(layer).attn.reduction_source", as: Float.self)
        let c = s.shape[2]
        let name = "source_\(v.rawValue)_l\(layer).png"
        let legend = v == .min ? "0 = h_t (itself), 1 = h_{t-1} (previous)" : "0 = h_t, 1 = h_{t-1}, 2 = sequence mean"
        try HeatmapFigure(values: s.values.map(Double.init), rows: t, cols: c,
                          title: "\(v.number). \(v.rawValue), layer \(layer): operand taken (\(legend))",
                          xLabel: "channel", yLabel: "position t (input character)",
                          colormap: v == .min ? .binary : .viridis, range: v == .min ? 0...1 : 0...2,
                          yTickLabels: chars.enumerated().map { "\($0.offset) \($0.element)" }, squareCells: false,
                          size: PixelSize(width: 1000, height: 900))
            .render(to: figures + "/" + name)
        heatmaps.append(ReportFigure(path: "figures/" + name, caption: "Variant \(v.number) (\(v.rawValue)), layer \(layer), seed \(seed0): for each position of the first \(t) validation characters (rows) and channel (columns), which operand the \(v == .min ? "min" : "max") selected (\(legend)). Row 0 is compared with itself."))
    }

    // MARK: Report
    try run.writeMetrics()
    let rows = variants.map { v -> String in
        let k = v.rawValue
        let causal = causality[v]!.allSatisfy(\.isCausal) ? "yes" : "**no** (max Δ \(formatNumber(Double(causality[v]!.map(\.maxChange).max()!))))"
        return "| \(v.number) | `\(k)` | \(v.about) | \(formatNumber(run.shared["params_nonembedding.\(k)"]!)) | "
            + "\(meanSpread(m["val_loss_best.\(k)"])) | \(meanSpread(m["val_loss_final.\(k)"])) | "
            + "\(meanSpread(m["val_loss_window.\(k)"])) | \(meanSpread(m["val_loss_prefix_only.\(k)"])) | "
            + "\(meanSpread(m["step_ms.\(k)"], digits: 1)) | \(causal) |"
    }
    let table = """
        Mean ± sample std [min, max] over seeds \(run.seeds.map(String.init).joined(separator: ", ")). Parameters exclude `wpe` (the count nanoGPT prints). \
        Best and final val loss are nanoGPT's estimate (\(config.train.evalIters) random batches). The next two columns use \(config.leakEvalBatches * config.train.batchSize) \
        fixed validation windows, the same for every model: "whole" lets every position see the whole window (teacher forcing, as in training); \
        "prefix-only" lets position t see only tokens ≤ t (one forward pass per prefix, as in generation). They agree for a causal model. \
        "Causal" is the causality test on the trained model: the logits at positions ≤ t must not move when the tokens after t change \
        (every cut t, 2 random sequences). ms/iter is the median training step, a timing that depends on the machine's load.

        | # | variant | what replaces what | params | best val loss | final val loss | fixed windows, whole | fixed windows, prefix-only | ms/iter | causal |
        |---|---|---|---|---|---|---|---|---|---|
        \(rows.joined(separator: "\n"))
        """
    /// "−0.012 ± 0.004 (negative in 3 of 3 seeds)": a paired difference over seeds.
    func deltaText(_ key: String) -> String {
        guard let d = m[key] else { return "not measured" }
        let negative = d.values.filter { $0 < 0 }.count
        return String(format: "%+.3f", d.mean) + (d.std.map { String(format: " ± %.3f", $0) } ?? "") + " (negative in \(negative) of \(d.n) seeds)"
    }
    var verdictText = ["Paired differences over seeds (same seed, same batches); a negative number supports the claim. "
        + "The verdicts in the claim tables above are computed from the same numbers."]
    if variants.contains(.min) && variants.contains(.attention) {
        let pa = run.shared["params_nonembedding.min"]!, pb = run.shared["params_nonembedding.attention"]!
        verdictText.append("**Claim 1, \"a smaller loss while having a smaller model\".** The attention-replaced models have "
            + "\(formatNumber(pa)) parameters vs attention's \(formatNumber(pb)) (\(pa < pb ? "smaller" : "not smaller")). "
            + "Best val loss, variant − attention: min \(deltaText("delta_val_loss_best.min_vs_attention")), "
            + "max \(deltaText("delta_val_loss_best.max_vs_attention")), mean \(deltaText("delta_val_loss_best.mean_vs_attention")), "
            + "activation replacement (same size as attention) \(deltaText("delta_val_loss_best.mlp_min_vs_attention")).")
    }
    if variants.contains(.maxContext) && variants.contains(.max) {
        let leaks = !causality[.maxContext]!.allSatisfy(\.isCausal)
        let causalGaps = variants.filter { $0 != .maxContext }.flatMap { m["future_gain.\($0.rawValue)"]!.values.map(Swift.abs) }
        verdictText.append("**Claim 2, \"the loss further drops by incorporating an average context vector\".** Best val loss, context − max: "
            + "as published (mean over the whole sequence) \(deltaText("delta_val_loss_best.max_context_vs_max")); "
            + "causal prefix mean \(deltaText("delta_val_loss_best.max_prefix_context_vs_max")). "
            + "The published context \(leaks ? "fails" : "passes") the causality test. Evaluated prefix by prefix, as it would be used "
            + "to generate, its loss exceeds the loss on the same windows seen whole by \(deltaText("future_gain.max_context")) "
            + "(for the other variants the two agree to \(formatNumber(causalGaps.max() ?? 0, significantDigits: 2))), "
            + "and context − max becomes \(deltaText("delta_val_loss_prefix_only.max_context_vs_max")).")
    }
    try run.writeReport(
        figures: [ReportFigure(path: "figures/val_loss.png", caption: "Validation loss of every variant (mean, band: min–max over seeds); nanoGPT's README number for attention is 1.88 at iteration 2000."),
                  ReportFigure(path: "figures/train_loss.png", caption: "Training loss per iteration (moving average), mean over seeds."),
                  ReportFigure(path: "figures/loss_vs_params.png", caption: "Best validation loss against parameter count; the attention-replaced variants (2–6) share 0.60M, attention and the activation replacement (1, 7) 0.80M.")]
            + heatmaps,
        deviations: [
            "The paper's body, numbers and configuration are unavailable; the mechanism is reconstructed from the author's later public code (notes §1) and implemented from the math, not ported (AGPL). The testbed is nanoGPT's README CPU run, the likely but unconfirmed setting of \"my test setting with nanoGPT\".",
            "Variant 4 (mean): the author's `causal_reduction(…, \"mean\")` calls `torch.mean(a, b)` with b as the dimension argument, so it does not compute a pairwise mean; we implement the intended y_t = (h_t + h_{t−1})/2.",
            "Variant 5 (context as published) includes the sequence mean ḡ at t = 0 as well, as the author's stacking of [h, shift(h), ḡ] does (the notes' table writes y₀ = h₀; the code's stack gives y₀ = max(h₀, ḡ)).",
            "Variant 6 (causal context) is ours, not the paper's: ḡ replaced by the running mean over positions ≤ t, to separate the context vector's benefit from its view of the future.",
            "Variant 7 keeps nanoGPT's plain MLP, c_proj(min(c_fc(x)) along time); the author's FlashT5 uses it inside a gated (GLU) decoder FFN and his BabyLM code in GPT-2's MLP.",
            "The attention-replaced layer keeps nanoGPT's c_proj initialisation N(0, 0.02/√(2·n_layer)); with c_attn gone the random draws after layer 0 differ from the baseline's (same seed, different weights).",
            "Ties in min/max go to h_t (then h_{t−1}, then ḡ), as torch.min over a stacked axis returns the first index.",
            "Our own Swift implementation, RNG and float32 CPU kernels (OpenBLAS) instead of PyTorch; the attention variant is bit-identical to papers/nanogpt at the same seed and thread count.",
            config.scale == "baby-cpu" ? "Training configuration: nanoGPT's README CPU line (L4 H4 C128, block 64, batch 12, 2000 iterations, dropout 0, eval_iters 20), identical for every variant."
                : "This preset is much smaller than nanoGPT's README CPU run (\(config.train.maxIters) iterations), so its losses are not comparable with 1.88 or with the default preset.",
        ],
        sections: [ReportSection(title: "Results per variant", markdown: table),
                   ReportSection(title: "The abstract's claims, from our numbers", markdown: verdictText.joined(separator: "\n\n")),
                   ReportSection(title: "Samples (temperature 1, \(config.sampleChars) characters after a newline)", markdown: samples.joined(separator: "\n\n"))],
        scale: config.scale)
}

runMain(Paper<Config>(
    name: "hilsenbek", title: "Hilsenbek 2024: the causal generative function in nanoGPT",
    presets: [("ci", ci, "all 7 variants × 100 iterations, 1 seed: a smoke run gated by make check (~1 min)"),
              ("default", Config(), "nanoGPT's README CPU run (L4 H4 C128, 2000 iterations) for all 7 variants × 3 seeds (~37 min on 2 cores)")],
    run: replicate))
