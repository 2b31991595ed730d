// nanoGPT baseline (Karpathy, github.com/karpathy/nanoGPT): the character-level Shakespeare
// model with the README's CPU settings, trained by our own Swift core. The language-model
// papers (Hilsenbek, Block Transformer) compare against this run.
//
// Reads top to bottom: config and presets → data → per seed: model, training (checkpointed,
// resumable), activations, samples → figures → report. Run with `make replicate PAPER=nanogpt`.

import Foundation
import Replicate

// MARK: - Config (nanoGPT's names; `key=value` on the command line overrides any of them)

struct Config: Codable, Sendable, NanoGPTHyperparameters {
    // model (nanoGPT's README CPU line: --n_layer=4 --n_head=4 --n_embd=128 --block_size=64 --dropout=0.0)
    var nLayer = 4
    var nHead = 4
    var nEmbd = 128
    var dropout: Float = 0
    var bias = false
    // training (config/train_shakespeare_char.py plus the README's CPU overrides)
    var batchSize = 12
    var blockSize = 64
    var maxIters = 2000
    var evalInterval = 250
    var evalIters = 20
    var learningRate = 1e-3
    var minLr = 1e-4
    var warmupIters = 100
    var lrDecayIters = 2000
    var weightDecay = 0.1
    var beta1 = 0.9
    var beta2 = 0.99
    var gradClip: Float = 1
    var checkpointInterval = 250
    // this replication
    var seeds: [UInt64] = [1, 2, 3]
    var sampleChars = 300
}

let ci: Config = {
    var c = Config()
    c.maxIters = 200; c.lrDecayIters = 200; c.warmupIters = 20
    c.evalInterval = 100; c.evalIters = 5; c.checkpointInterval = 100
    c.seeds = [1]; c.sampleChars = 100
    return c
}()

// MARK: - The experiment

func replicate(_ config: Config, _ run: Run) throws {
    let data = try CharDataset.tinyShakespeare(store: DataStore(root: run.root))
    let gpt = config.model(vocabSize: data.vocabSize)
    var samples: [String] = []
    var valCurves: [[Double]] = [], evalIters: [Double] = []
    var lastModel: GPT?

    for seed in run.seeds {
        let dir = try run.seedDir(seed)
        let model = GPT(gpt, seed: seed)
        let started = Date()
        let h = try trainLanguageModel(model, data: data, config: config.train, seed: seed,
                                       checkpointPath: dir + "/checkpoint.h5", modelName: "nanogpt",
                                       configJSON: run.configJSON, provenance: run.provenance, label: "[seed \(seed)] ")
        // Final = the eval at max_iters (nanoGPT evaluates before that iteration's update).
        run.record("val_loss_final", h.evalVal.last!, seed: seed)
        run.record("train_loss_final", h.evalTrain.last!, seed: seed)
        run.record("val_loss_best", h.evalVal.min()!, seed: seed)
        run.record("train_time_minutes", Date().timeIntervalSince(started) / 60, seed: seed)
        let steady = h.stepMs.dropFirst(min(10, h.stepMs.count - 1))   // skip warm-up allocations
        let msPerIter = steady.sorted()[steady.count / 2]
        run.record("step_ms", msPerIter, seed: seed)
        run.record("tokens_per_s", Double(config.batchSize * config.blockSize) / msPerIter * 1000, seed: seed)
        run.recordSeries("train_loss", x: h.iters.map(Double.init), y: h.trainLoss, seed: seed)
        run.recordSeries("eval_val_loss", x: h.evalIters.map(Double.init), y: h.evalVal, seed: seed)
        run.recordSeries("eval_train_loss", x: h.evalIters.map(Double.init), y: h.evalTrain, seed: seed)
        log("[seed \(seed)] final: train loss \(String(format: "%.4f", h.evalTrain.last!)), val loss \(String(format: "%.4f", h.evalVal.last!))")
        valCurves.append(h.evalVal)
        evalIters = h.evalIters.map(Double.init)

        // Activations of one fixed validation window (the first block_size characters of val).
        let window = Array(data.val[0..<config.blockSize])
        try H5File.writeAtomically(to: dir + "/activations.h5") { f in
            try f.setAttribute("kind", .string("activations"))
            try f.setAttribute("config", .string(run.configJSON))
            try f.setAttribute("input_text", .string(data.decode(window)))
            try run.provenance.attach(to: f)
            try f.write("input_ids", window, shape: [1, config.blockSize])
            let targets = Array(data.val[1...config.blockSize])
            try f.write("target_ids", targets, shape: [1, config.blockSize])
            let loss = noGrad { model.loss(window, targets: targets, batch: 1, time: config.blockSize).item() }
            try f.write("loss", [Double(loss)], shape: [])
            for (name, t) in model.activations(window, batch: 1, time: config.blockSize) {
                try f.write(name, t.toArray(), shape: t.shape)
            }
        }
        var rng = RNG(seed: seed)
        let text = data.decode(model.generate(prompt: data.encode("\n"), count: config.sampleChars, rng: &rng))
        samples.append("Seed \(seed):\n\n```\n\(text)\n```")
        lastModel = model
    }
    run.record("params_nonembedding", Double(lastModel!.nonEmbeddingParameterCount))
    run.record("params_millions", Double(lastModel!.nonEmbeddingParameterCount) / 1e6)
    run.record("params_total", Double(lastModel!.parameterCount))

    // MARK: Figures
    let figures = run.figuresDir
    try Figure(title: "nanoGPT shakespeare_char (baby CPU config): validation loss", xLabel: "iteration",
               yLabel: "val loss (nats/char)",
               series: [Series.overSeeds(name: "ours, mean and range over \(run.seeds.count) seed(s)", x: evalIters, runs: valCurves)],
               reported: [ReportedPoint(x: 2000, y: 1.88, label: "nanoGPT README: 1.88")],
               hLines: [ReferenceLine(label: "1.88 (README)", y: 1.88)])
        .render(to: figures + "/val_loss.png")
    let seed0 = run.seeds[0]
    let trainCurve = try H5File.open(run.dir + "/seed-\(seed0)/checkpoint.h5").read("history/train_loss", as: Double.self).values
    try Figure(title: "training loss per iteration (seed \(seed0))", xLabel: "iteration", yLabel: "loss",
               series: [Series(name: "train loss", x: (0..<trainCurve.count).map(Double.init), y: trainCurve)])
        .render(to: figures + "/train_loss.png")
    let act = try H5File.open(run.dir + "/seed-\(seed0)/activations.h5").read("transformer.h.0.attn.weights", as: Float.self)
    let t = config.blockSize
    try Heatmap(values: act.values[0..<(t * t)].map(Double.init), rows: t, cols: t,
                title: "layer 0 head 0 attention (query row, key column)").writePNG(to: figures + "/attention_l0h0.png")

    // MARK: Report
    try run.writeMetrics()
    try run.writeReport(
        figures: [ReportFigure(path: "figures/val_loss.png", caption: "Validation loss during training; the paper's number is the README's 1.88 at iteration 2000."),
                  ReportFigure(path: "figures/train_loss.png", caption: "Training loss of every update (seed \(seed0))."),
                  ReportFigure(path: "figures/attention_l0h0.png", caption: "Attention of layer 0, head 0 on the first \(t) validation characters (seed \(seed0)); causal, so the upper triangle is zero.")],
        deviations: [
            "Our own Swift implementation and RNG: same architecture, initialisation scheme and optimizer semantics as nanoGPT, but different random draws, so individual runs differ from PyTorch's by seed-level noise.",
            "float32 on CPU with OpenBLAS; nanoGPT's CPU run used PyTorch (MKL) on a MacBook CPU.",
            "GELU uses erf through a polynomial (|error| ≤ 1.5e-7), exp through our own SIMD routine.",
            config.isBabyCPU ? "None in configuration: the README's CPU line (L4 H4 C128, block 64, batch 12, 2000 iterations, dropout 0, eval_iters 20)."
                : "This preset is smaller than the README's CPU run (\(config.maxIters) iterations), so the paper numbers are not comparable at this scale.",
        ],
        sections: [ReportSection(title: "Samples (temperature 1, \(config.sampleChars) characters)", markdown: samples.joined(separator: "\n\n"))],
        scale: config.scale)
}

runMain(Paper<Config>(
    name: "nanogpt", title: "nanoGPT shakespeare_char baseline",
    presets: [("ci", ci, "200 iterations, 1 seed: a smoke run gated by make check (~30 s)"),
              ("default", Config(), "the README's CPU run: L4 H4 C128, 2000 iterations, 3 seeds")],
    seeds: { $0.seeds }, run: replicate))
