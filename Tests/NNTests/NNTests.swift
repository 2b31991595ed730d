import Foundation
import Testing
import TensorCore
import NN
import Datasets

private let tiny = GPTConfig(vocabSize: 11, blockSize: 8, nLayer: 2, nHead: 2, nEmbd: 8)

@Suite struct GPTTests {
    @Test func stateDictKeysMatchNanoGPT() {
        let names = GPT(tiny, seed: 1).namedParameters().map(\.0)
        #expect(names.first == "transformer.wte.weight")
        #expect(names.contains("transformer.h.1.attn.c_attn.weight"))
        #expect(names.contains("transformer.h.0.mlp.c_proj.weight"))
        #expect(names.contains("transformer.ln_f.weight"))
        #expect(names.last == "lm_head.weight")
        #expect(!names.contains { $0.hasSuffix(".bias") })   // bias=False everywhere
    }

    @Test func parameterCountsMatchTheFormula() {
        // total = V·C + T·C + L·(12C² + 2C) + C for bias=False with tied embeddings.
        let baby = GPTConfig(vocabSize: 65, blockSize: 64, nLayer: 4, nHead: 4, nEmbd: 128)
        let model = GPT(baby, seed: 1)
        #expect(model.parameterCount == 804_096)
        #expect(model.nonEmbeddingParameterCount == 795_904)   // nanoGPT prints "0.80M"
        #expect(model.namedParameters().count == model.parameters().count + 1)   // lm_head tied
    }

    @Test func initialisationStatistics() {
        let model = GPT(GPTConfig(vocabSize: 65, blockSize: 64, nLayer: 4, nHead: 4, nEmbd: 128), seed: 3)
        func std(_ t: Tensor) -> Double {
            let v = t.toArray().map(Double.init); let m = v.reduce(0, +) / Double(v.count)
            return (v.map { ($0 - m) * ($0 - m) }.reduce(0, +) / Double(v.count)).squareRoot()
        }
        #expect(abs(std(model.blocks[0].mlp.cFc.weight) - 0.02) < 0.001)
        #expect(abs(std(model.blocks[0].mlp.cProj.weight) - 0.02 / 8.0.squareRoot()) < 0.0005)   // 0.02/√(2L)
        #expect(model.lnF.weight.toArray().allSatisfy { $0 == 1 })
    }

    @Test func causality() {
        // Changing tokens after position t must leave the logits at positions ≤ t unchanged.
        let model = GPT(tiny, seed: 2)
        var rng = RNG(seed: 5)
        let x = (0..<8).map { _ in Int32(rng.nextInt(below: 11)) }
        let base = noGrad { model(x, batch: 1, time: 8) }.toArray()
        for t in 0..<7 {
            var y = x
            for i in (t + 1)..<8 { y[i] = (y[i] + 3) % 11 }
            let changed = noGrad { model(y, batch: 1, time: 8) }.toArray()
            let v = 11
            #expect(Array(changed[..<((t + 1) * v)]) == Array(base[..<((t + 1) * v)]), "position ≤ \(t) changed")
            #expect(Array(changed[((t + 1) * v)...]) != Array(base[((t + 1) * v)...]), "the future had no effect at all")
        }
    }

    @Test func trainingIsDeterministic() {
        func run() -> [Float] {
            let model = GPT(tiny, seed: 9)
            let opt = AdamW(model, lr: 1e-2, weightDecay: 0.1)
            var rng = RNG(seed: 4)
            var losses: [Float] = []
            for _ in 0..<5 {
                let x = (0..<16).map { _ in Int32(rng.nextInt(below: 11)) }
                let loss = model.loss(x, targets: x.map { ($0 + 1) % 11 }, batch: 2, time: 8)
                model.zeroGrad(); loss.backward()
                clipGradNorm(model.parameters(), maxNorm: 1)
                opt.update()
                losses.append(loss.item())
            }
            return losses
        }
        let a = run(), b = run()
        #expect(a == b)
        #expect(a.last! < a.first!)   // and it learns the +1 rule a little
    }

    @Test func loadStateDictRejectsOtherModels() throws {
        let a = GPT(tiny, seed: 1), b = GPT(tiny, seed: 2)
        let dict = Dictionary(uniqueKeysWithValues: a.namedParameters().map { ($0.0, ($0.1.toArray(), $0.1.shape)) })
        try b.loadStateDict(dict)
        #expect(b.blocks[1].attn.namedParameters()[0].1.toArray() == a.blocks[1].attn.namedParameters()[0].1.toArray())
        var bigger = tiny; bigger.nEmbd = 16
        #expect(throws: StateDictError.self) { try GPT(bigger, seed: 1).loadStateDict(dict) }
        var deeper = tiny; deeper.nLayer = 3
        #expect(throws: StateDictError.missingKey("transformer.h.2.ln_1.weight")) { try GPT(deeper, seed: 1).loadStateDict(dict) }
    }
}

@Suite struct OptimTests {
    @Test func adamWMatchesHandComputedSteps() {
        // One parameter [1, -2] (2-D, so decayed) with constant gradient [0.5, 0.25]:
        // step 1: p ← p·(1 − lr·wd); m = 0.1·g; v = 0.01·g²; m̂ = g, v̂ = g² → p −= lr·g/(|g| + eps).
        let p = Tensor([1, -2], shape: [1, 2], requiresGrad: true)
        let opt = AdamW(groups: [.init(params: [("w", p)], weightDecay: 0.1)], lr: 0.1, beta1: 0.9, beta2: 0.99)
        p.grad = Tensor([0.5, 0.25], shape: [1, 2])
        opt.update()
        let e1: [Double] = [1 * (1 - 0.01) - 0.1 * 0.5 / (0.5 + 1e-8), -2 * (1 - 0.01) - 0.1 * 0.25 / (0.25 + 1e-8)]
        #expect(closeness(p.toArray(), e1, atol: 1e-7, rtol: 1e-6).ok)
        // Step 2, same gradient: m = 0.19·g, v = 0.0199·g²; m̂ = m/0.19 = g, v̂ = v/0.0199 = g².
        opt.update()
        let e2 = e1.map { $0 * (1 - 0.01) }.enumerated().map { $0.element - 0.1 * ([0.5, 0.25][$0.offset] / ([0.5, 0.25][$0.offset] + 1e-8)) }
        #expect(closeness(p.toArray(), e2, atol: 1e-6, rtol: 1e-6).ok, "\(closeness(p.toArray(), e2, atol: 1e-6, rtol: 1e-6))")
        #expect(opt.step == 2)
    }

    @Test func adamWSecondStepWithChangingGradient() {
        // Scalar-like 1-D parameter (no decay), g1 = 1, g2 = −1, lr 1, β1 0.9, β2 0.99, eps 0.
        // m1 = 0.1, v1 = 0.01 → p1 = 0 − 1·(0.1/0.1)/(√(0.01/0.01)) = −1.
        // m2 = 0.09 − 0.1 = −0.01, v2 = 0.0099 + 0.01 = 0.0199; m̂ = −0.01/0.19, v̂ = 0.0199/0.0199 = 1
        // → p2 = −1 + 0.01/0.19.
        let p = Tensor([0], shape: [1], requiresGrad: true)
        let opt = AdamW(groups: [.init(params: [("b", p)], weightDecay: 0)], lr: 1, beta1: 0.9, beta2: 0.99, eps: 0)
        p.grad = Tensor([1], shape: [1]); opt.update()
        #expect(abs(p.item() - (-1)) < 1e-6)
        p.grad = Tensor([-1], shape: [1]); opt.update()
        #expect(abs(Double(p.item()) - (-1 + 0.01 / 0.19)) < 1e-6)
    }

    @Test func nanoGPTDecayGroups() {
        let model = GPT(tiny, seed: 1)
        let opt = AdamW(model, lr: 1e-3, weightDecay: 0.1)
        #expect(opt.groups[0].params.allSatisfy { $0.1.rank >= 2 } && opt.groups[0].weightDecay == 0.1)
        #expect(opt.groups[1].params.allSatisfy { $0.0.contains("ln_") } && opt.groups[1].weightDecay == 0)
        #expect(opt.groups[0].params.count == 2 + 4 * tiny.nLayer)   // wte, wpe, 4 matrices per block
    }

    @Test func clippingScalesToMaxNorm() {
        let a = Tensor([0, 0], shape: [2], requiresGrad: true), b = Tensor([0], shape: [1], requiresGrad: true)
        a.grad = Tensor([3, 0], shape: [2]); b.grad = Tensor([4], shape: [1])
        let norm = clipGradNorm([a, b], maxNorm: 1)
        #expect(norm == 5)
        #expect(closeness(a.grad!.toArray() + b.grad!.toArray(), [0.6, 0, 0.8], atol: 1e-6, rtol: 1e-6).ok)
        let n2 = clipGradNorm([a, b], maxNorm: 2)   // already below: unchanged (coefficient clamped to 1)
        #expect(abs(n2 - 1) < 1e-6 && abs(a.grad!.data[0] - 0.6) < 1e-6)
    }

    @Test func nanoGPTLearningRateSchedule() {
        let s = CosineSchedule(maxLR: 1e-3, minLR: 1e-4, warmupIters: 100, decayIters: 2000)
        #expect(abs(s.lr(at: 0) - 1e-3 / 101) < 1e-15)            // warmup: lr·(it+1)/(warmup+1)
        #expect(abs(s.lr(at: 99) - 1e-3 * 100 / 101) < 1e-15)
        #expect(abs(s.lr(at: 100) - 1e-3) < 1e-15)                // cosine starts at the peak
        #expect(abs(s.lr(at: 1050) - 5.5e-4) < 1e-12)             // halfway: (max + min)/2
        #expect(abs(s.lr(at: 2000) - 1e-4) < 1e-15)
        #expect(s.lr(at: 2001) == 1e-4)
    }
}

@Suite struct DataTests {
    @Test func sha256KnownVectors() {
        #expect(sha256Hex([]) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect(sha256Hex(Array("abc".utf8)) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(sha256Hex(Array("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq".utf8))
                == "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")   // two blocks (FIPS 180-2 B.2)
    }

    /// The project root: tests run from the package directory.
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path

    @Test func tinyShakespeareSplitMatchesNanoGPT() throws {
        let ds = try CharDataset.tinyShakespeare(store: DataStore(root: Self.root))
        #expect(ds.vocabSize == 65)
        #expect(ds.train.count == 1_003_854)
        #expect(ds.val.count == 111_540)
        #expect(ds.decode(ds.encode("First Citizen:")) == "First Citizen:")
        var rng = RNG(seed: 1)
        let (x, y) = ds.batch(.train, batch: 3, block: 16, rng: &rng)
        #expect(x.count == 48 && Array(x[1..<16]) == Array(y[0..<15]))
    }

    @Test func corruptFileIsAClearError() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("replicate-data-\(UUID())").path
        try FileManager.default.createDirectory(atPath: dir + "/data", withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let file = DataFile(name: "x.txt", url: "https://example.invalid/x.txt", sha256: sha256Hex(Array("good".utf8)), bytes: 4)
        try "bad!".write(toFile: dir + "/data/x.txt", atomically: true, encoding: .utf8)
        let store = DataStore(root: dir)
        let err = #expect(throws: DataError.self) { try store.load(file, download: false) }
        #expect(err?.description.contains("x.txt") == true && err?.description.contains("sha256") == true)
        try "good".write(toFile: dir + "/data/x.txt", atomically: true, encoding: .utf8)
        #expect(try store.load(file, download: false) == Array("good".utf8))
    }

    @Test func missingFileSaysHowToFixIt() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("replicate-data-\(UUID())").path
        let file = DataFile(name: "absent.txt", url: "https://example.invalid/absent.txt", sha256: "00", bytes: 1)
        let err = #expect(throws: DataError.self) { try DataStore(root: dir).load(file, download: false) }
        #expect(err?.description.contains("make data") == true)
    }
}
