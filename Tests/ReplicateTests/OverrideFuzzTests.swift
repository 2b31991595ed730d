import Foundation
import Testing
@testable import Replicate

// The override parser on mutations of valid `key=value` lines: each either applies (and the
// config still validates or is refused by `validate()`) or throws, never traps.

private struct Nested: Codable, Sendable, Equatable { var width = 8; var rates = [0.1, 0.2]; var name = "a" }

private struct FuzzConfig: PaperConfig {
    var train = TrainConfig()
    var nested = Nested()
    var flag = true
    var seeds: [UInt64] = [1]
    func validate() throws { try train.validate() }
}

@Suite struct OverrideFuzzTests {
    @Test func overrideParserOnlyThrows() {
        let cases = Int(ProcessInfo.processInfo.environment["REPLICATE_FUZZ_CASES"] ?? "") ?? 20_000
        let valid = ["max_iters=100", "train.learning_rate=3e-4", "nested.width=16", "rates=0.5,0.25", "name=b", "flag=false",
                     "seeds=1,2,3", "train.beta2=0.95", "width=4"]
        for line in valid { #expect((try? applyOverrides([line], to: FuzzConfig())) != nil, "\(line)") }
        var m = Mutator(seed: 99), applied = 0
        for i in 0..<cases {
            let line = String(decoding: m.mutate(Array(valid[i % valid.count].utf8)), as: UTF8.self)
            if let c = try? applyOverrides([line], to: FuzzConfig()) {
                applied += 1
                _ = try? c.validate()
            }
        }
        #expect(applied > 0 && applied < cases, "\(applied) of \(cases) mutations applied")
    }
}
