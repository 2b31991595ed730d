import Testing
import TensorCore
import NN

// The generic causality test (Sources/NN/Causality.swift) must catch a leak; each paper tests its
// own models with it.

@Suite struct CausalityTestTests {
    @Test func causalityTestCatchesAPlantedLeak() {
        // A forward that mixes the last position into the first: detected at every cut.
        let r = causalityViolation(vocabSize: 5, time: 6) { ids, b, t in
            let x = Tensor(ids.map(Float.init), shape: [b, t, 1])
            return x + x.slice(axis: 1, (t - 1)..<t) * 0.5
        }
        #expect(!r.isCausal)
        #expect(r.maxChange >= 0.5)
    }


    @Test func causalityTestPassesTheBaselineGPT() {
        let model = GPT(GPTConfig(vocabSize: 11, blockSize: 8, nLayer: 2, nHead: 2, nEmbd: 16), seed: 3)
        let r = causalityViolation(model)
        #expect(r.isCausal && r.maxChange == 0, "\(r)")
        #expect(r.futureEffect > 0, "the perturbation changed nothing: \(r)")
    }
}
