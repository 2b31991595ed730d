// `make bench`: speed of our core against the machine's own limits, measured in the same run.
// Prints ratios, never asserts: timings are noisy on a shared 2-core VM (repeat and compare).
import Dispatch
import Foundation
import Replicate

func now() -> Double { Double(DispatchTime.now().uptimeNanoseconds) / 1e9 }

func median(_ xs: [Double]) -> Double { let s = xs.sorted(); return s[s.count / 2] }

// MARK: - Machine limits

/// fp32 FMA peak of one core: 12 independent 8-lane FMA chains (enough to cover latency × ports).
@inline(never) func fmaKernel(_ iters: Int, _ seed: Float) -> Float {
    var a0 = F8(repeating: seed), a1 = a0 + 1, a2 = a0 + 2, a3 = a0 + 3, a4 = a0 + 4, a5 = a0 + 5
    var a6 = a0 + 6, a7 = a0 + 7, a8 = a0 + 8, a9 = a0 + 9, a10 = a0 + 10, a11 = a0 + 11
    let m = F8(repeating: 0.999999), c = F8(repeating: 1e-7)
    for _ in 0..<iters {
        a0 = c.addingProduct(a0, m); a1 = c.addingProduct(a1, m); a2 = c.addingProduct(a2, m)
        a3 = c.addingProduct(a3, m); a4 = c.addingProduct(a4, m); a5 = c.addingProduct(a5, m)
        a6 = c.addingProduct(a6, m); a7 = c.addingProduct(a7, m); a8 = c.addingProduct(a8, m)
        a9 = c.addingProduct(a9, m); a10 = c.addingProduct(a10, m); a11 = c.addingProduct(a11, m)
    }
    return (a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7 + a8 + a9 + a10 + a11).sum()
}

func fmaPeak(threads: Int) -> Double {
    let iters = 20_000_000
    var best = 0.0
    for _ in 0..<3 {
        let t0 = now()
        DispatchQueue.concurrentPerform(iterations: threads) { i in _ = fmaKernel(iters, Float(i)) }
        best = max(best, Double(threads * iters * 12 * 8 * 2) / (now() - t0) / 1e9)
    }
    return best
}

// MARK: - Workload 1: nanoGPT CPU-config training step

func trainStep(config: GPTConfig, batch: Int, steps: Int, warmup: Int) -> (ms: Double, flopsPerStep: Double, params: Int) {
    let model = GPT(config, seed: 1)
    let opt = AdamW(model, lr: 1e-3, weightDecay: 0.1, beta2: 0.99)
    var rng = RNG(seed: 2)
    let t = config.blockSize
    var times: [Double] = []
    for i in 0..<(warmup + steps) {
        let x = (0..<(batch * t)).map { _ in Int32(rng.nextInt(below: config.vocabSize)) }
        let t0 = now()
        let loss = model.loss(x, targets: x, batch: batch, time: t)
        model.zeroGrad()
        loss.backward()
        clipGradNorm(model.parameters(), maxNorm: 1)
        opt.update()
        if i >= warmup { times.append(now() - t0) }
    }
    // nanoGPT's estimate_mfu: 6N + 12·L·H·Q·T FLOPs per token (N without wpe).
    let n = Double(model.nonEmbeddingParameterCount)
    let perToken = 6 * n + 12 * Double(config.nLayer * config.nHead * (config.nEmbd / config.nHead) * t)
    return (median(times) * 1000, perToken * Double(batch * t), model.nonEmbeddingParameterCount)
}

let threads = Parallel.threads
print("Replicate benchmark — \(Provenance.current(seeds: [], threads: threads, root: FileManager.default.currentDirectoryPath).cpu), \(threads) threads, \(ISO8601DateFormatter().string(from: Date()))")
let peak1 = fmaPeak(threads: 1), peakAll = fmaPeak(threads: threads)
print(String(format: "fp32 FMA peak: %.1f GFLOP/s on 1 core, %.1f GFLOP/s on %d threads", peak1, peakAll, threads))

let baby = GPTConfig(vocabSize: 65, blockSize: 64, nLayer: 4, nHead: 4, nEmbd: 128)
let b = trainStep(config: baby, batch: 12, steps: 40, warmup: 5)
let gflops = b.flopsPerStep / (b.ms / 1000) / 1e9
print(String(format: "nanoGPT baby training step (L4 H4 C128, T64, B12, %.2fM params): %.1f ms/step, %.0f tokens/s, %.1f GFLOP/s = %.0f%% of the %d-thread peak",
             Double(b.params) / 1e6, b.ms, 768 / (b.ms / 1000), gflops, 100 * gflops / peakAll, threads))
if CommandLine.arguments.contains("--full") {
    let full = GPTConfig(vocabSize: 65, blockSize: 256, nLayer: 6, nHead: 6, nEmbd: 384)
    let f = trainStep(config: full, batch: 64, steps: 3, warmup: 1)
    let g = f.flopsPerStep / (f.ms / 1000) / 1e9
    print(String(format: "nanoGPT full training step (L6 H6 C384, T256, B64): %.0f ms/step, %.0f tokens/s, %.1f GFLOP/s = %.0f%% of peak",
                 f.ms, 16384 / (f.ms / 1000), g, 100 * g / peakAll))
}
