// The template paper: the smallest complete replication, to copy when adding a paper
// (`make new-paper NAME=<name>`; the checklist is in this folder's README).
//
// Its "paper" is a textbook fact with one number: least squares on y = X·w* + ε with Gaussian
// X (n rows, D columns) and noise ε ~ N(0, σ²) has expected test error σ²·(1 + D/(n − D − 1)).
// We train a linear model with the shared training loop (AdamW, no weight decay) and measure its
// test MSE over seeds; the report puts the two side by side with a computed verdict.
//
// Reads top to bottom: config and presets → data (generated, seeded, written to HDF5) → per
// seed: model, training (checkpointed, resumable), test MSE → figure → report.
// Run with `make replicate PAPER=_template PRESET=ci`.

import Foundation
import Replicate

// MARK: - Config (`key=value` on the command line overrides any of them)

struct Config: PaperConfig {
    var train: TrainConfig = {
        var t = TrainConfig()
        t.batchSize = 32; t.maxIters = 400; t.evalInterval = 50; t.evalIters = 1
        t.learningRate = 0.05; t.minLr = 0.005; t.warmupIters = 20; t.lrDecayIters = 400
        t.weightDecay = 0; t.checkpointInterval = 100
        return t
    }()
    var features = 8          // D
    var trainRows = 512       // n
    var testRows = 2048
    var noiseStd = 0.1        // σ
    var seeds: [UInt64] = [1, 2, 3]

    /// The expected test MSE of the least-squares fit: the claim's "reported" number.
    var expectedTestMSE: Double { noiseStd * noiseStd * (1 + Double(features) / Double(trainRows - features - 1)) }

    func validate() throws {
        try train.validate()
        try requireConfig(features, "features", in: 1...4096)
        try requireConfig(trainRows > features + 1 && trainRows <= 10_000_000, "train_rows", trainRows, "must exceed features + 1 (\(features + 1)) and be at most 10000000")
        try requireConfig(testRows, "test_rows", in: 1...10_000_000)
        try requireConfig(noiseStd > 0 && noiseStd <= 1e6, "noise_std", noiseStd, "must be in (0, 1e6]")
    }

    /// The claims' scale: the claim holds at the default sizes it was computed for.
    var scale: String { features == 8 && trainRows == 512 && noiseStd == 0.1 ? "default" : "other" }
}

let ci: Config = {
    var c = Config()
    c.train.maxIters = 200; c.train.lrDecayIters = 200
    c.seeds = [1]
    return c
}()

// MARK: - Model

/// y = x·wᵀ: one `Linear` without bias, as the formula assumes (state_dict key `linear.weight`).
final class LinearRegression: Trainable {
    let linear: Linear
    var training = true
    var randomStreams: [String: RNG] = [:]     // no dropout: nothing random while training

    init(features: Int, seed: UInt64) {
        var rng = RNG(seed: seed)
        linear = Linear(features, 1, bias: false, rng: &rng)
    }

    func callAsFunction(_ x: Tensor) -> Tensor { linear(x) }       // (N, D) → (N, 1)
    func namedParameters() -> [(String, Tensor)] { named("linear", linear) }
}

func mse(_ prediction: Tensor, _ target: Tensor) -> Tensor { (prediction - target).square().mean() }

// MARK: - Data: y = X·w* + ε, every draw from the run's seed

struct Regression {
    var x: [Float], y: [Float], rows: Int
    func tensors() -> (x: Tensor, y: Tensor) { (Tensor(x, shape: [rows, x.count / rows]), Tensor(y, shape: [rows, 1])) }
}

func makeData(_ c: Config, seed: UInt64) -> (train: Regression, test: Regression, w: [Float]) {
    var rng = RNG(seed: seed &+ 0xDA7A)
    let w = (0..<c.features).map { _ in rng.nextNormal() }
    func split(_ rows: Int) -> Regression {
        let x = (0..<(rows * c.features)).map { _ in rng.nextNormal() }
        let y = (0..<rows).map { r in
            (0..<c.features).reduce(Float(0)) { $0 + x[r * c.features + $1] * w[$1] } + Float(c.noiseStd) * rng.nextNormal()
        }
        return Regression(x: x, y: y, rows: rows)
    }
    return (split(c.trainRows), split(c.testRows), w)
}

// MARK: - The experiment

func replicate(_ config: Config, _ run: Run) throws {
    var curves: [[Double]] = [], evalIters: [Double] = []
    for seed in run.seeds {
        let data = makeData(config, seed: seed)
        try H5File.writeAtomically(to: try run.seedDir(seed) + "/data.h5") { f in
            try f.setAttribute("kind", .string("data"))
            try f.setAttribute("config", .string(run.configJSON))
            try run.provenance.attach(to: f)
            try f.write("train/x", data.train.x, shape: [data.train.rows, config.features])
            try f.write("train/y", data.train.y, shape: [data.train.rows])
            try f.write("test/x", data.test.x, shape: [data.test.rows, config.features])
            try f.write("test/y", data.test.y, shape: [data.test.rows])
            try f.write("w_true", data.w, shape: [config.features])
        }
        let model = LinearRegression(features: config.features, seed: seed)
        let (trainX, trainY) = data.train.tensors(), (testX, testY) = data.test.tensors()
        let b = config.train.batchSize, d = config.features
        let h = try train(model, config: config.train, seed: seed, checkpoint: try run.checkpoint(seed: seed, model: "linear"),
                          label: "[seed \(seed)] ", loss: { rng in
            // A minibatch of rows drawn with replacement from the data RNG.
            let rows = (0..<b).map { _ in rng.nextInt(below: data.train.rows) }
            let x = Tensor(rows.flatMap { data.train.x[($0 * d)..<(($0 + 1) * d)] }, shape: [b, d])
            return mse(model(x), Tensor(rows.map { data.train.y[$0] }, shape: [b, 1]))
        }, evaluate: { _ in
            [("train_mse", Double(mse(model(trainX), trainY).item())), ("test_mse", Double(mse(model(testX), testY).item()))]
        })
        // The trained model's errors (the last evaluation ran before the last update).
        let (testMSE, trainMSE) = noGrad { (mse(model(testX), testY).item(), mse(model(trainX), trainY).item()) }
        run.record("test_mse_final", Double(testMSE), seed: seed)
        run.record("train_mse_final", Double(trainMSE), seed: seed)
        let w = model.linear.weight.toArray()
        run.record("weight_error_max", zip(w, data.w).map { Double(abs($0 - $1)) }.max()!, seed: seed)
        run.recordSeries("eval_test_mse", x: h.evalIters.map(Double.init), y: h.eval("test_mse"), seed: seed)
        curves.append(h.eval("test_mse"))
        evalIters = h.evalIters.map(Double.init)
    }
    run.record("params_total", Double(LinearRegression(features: config.features, seed: 0).parameterCount))

    // MARK: Figure
    try Figure(title: "Linear regression: test MSE during training", xLabel: "iteration", yLabel: "test MSE", logY: true,
               series: [Series.overSeeds(name: "ours, mean and range over \(run.seeds.count) seed(s)", x: evalIters, runs: curves)],
               hLines: [ReferenceLine(label: "σ²(1 + D/(n−D−1))", y: config.expectedTestMSE)])
        .render(to: run.figuresDir + "/test_mse.png")

    // MARK: Report
    try run.writeMetrics()
    try run.writeReport(
        figures: [ReportFigure(path: "figures/test_mse.png", caption: "Test MSE at every evaluation; the line is the expected least-squares test error.")],
        deviations: ["AdamW on minibatches approximates the exact least-squares solution; the gap closes with more iterations."],
        scale: config.scale)
}

runMain(Paper<Config>(
    name: "_template", title: "Template: linear regression reaches the least-squares test error",
    presets: [("ci", ci, "200 iterations, 1 seed (~5 s, gated by make check)"),
              ("default", Config(), "400 iterations, 3 seeds (~15 s)")],
    run: replicate))
