import Foundation
import Testing
@testable import Reporting

// The claims and baseline readers on mutations of valid files: every input either parses or
// throws, never traps. `make test` runs a bounded count with a fixed seed; `make fuzz` sets
// REPLICATE_FUZZ_CASES (10⁶ by default there) for a longer search.

/// Mutations per reader: REPLICATE_FUZZ_CASES, else `fallback` (a few seconds in a debug build:
/// a claims file is 10–20 kB).
func fuzzCases(_ fallback: Int) -> Int { Int(ProcessInfo.processInfo.environment["REPLICATE_FUZZ_CASES"] ?? "") ?? fallback }

private let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path

@Suite struct FuzzTests {
    /// Every committed claims file, each mutated `fuzzCases` times over all of them.
    @Test func claimsReaderOnlyThrows() throws {
        let files = try FileManager.default.contentsOfDirectory(atPath: repository + "/papers").sorted()
            .map { repository + "/papers/\($0)/claims.json5" }.filter { FileManager.default.fileExists(atPath: $0) }
        try #require(files.count >= 3)
        let inputs = try files.map { Array(try Data(contentsOf: URL(fileURLWithPath: $0))) }
        for input in inputs { _ = try ClaimsFile.decode(Data(input), file: "valid") }
        let cases = fuzzCases(1500)
        var m = Mutator(seed: 20_261_203), parsed = 0
        for i in 0..<cases {
            if (try? ClaimsFile.decode(Data(m.mutate(inputs[i % inputs.count])), file: "fuzz")) != nil { parsed += 1 }
        }
        // Some mutations keep the file valid (a changed digit, whitespace); most do not.
        #expect(parsed > 0 && parsed < cases, "\(parsed) of \(cases) mutations parsed")
    }

    @Test func baselineReaderOnlyThrows() throws {
        let files = try FileManager.default.contentsOfDirectory(atPath: repository + "/papers").sorted()
            .map { repository + "/papers/\($0)/expected/ci.json" }.filter { FileManager.default.fileExists(atPath: $0) }
        try #require(files.count >= 3)
        // Baselines are long; the first 3 kB of each (cut at a metric boundary) keeps a case fast.
        let inputs: [[UInt8]] = try files.map { path in
            let b = try Baseline.load(path)
            let some = b.metrics.keys.sorted().prefix(12)
            var small = b
            small.metrics = b.metrics.filter { some.contains($0.key) }
            return Array(small.encoded().utf8)
        }
        for input in inputs { _ = try Baseline.decode(Data(input), file: "valid") }
        let cases = fuzzCases(5000)
        var m = Mutator(seed: 7), parsed = 0
        for i in 0..<cases {
            if (try? Baseline.decode(Data(m.mutate(inputs[i % inputs.count])), file: "fuzz")) != nil { parsed += 1 }
        }
        #expect(parsed < cases, "every mutation parsed: the mutator does nothing")
    }

    /// The case the fuzzer found: invalid UTF-8 in an unquoted key trapped inside Foundation's scanner.
    @Test func invalidUTF8IsAnErrorWithItsPlace() {
        let bytes: [UInt8] = Array("{\n  version: 1,\n  ab".utf8) + [0xE2, 0x28] + Array("c: 2 }".utf8)
        #expect { try ClaimsFile.decode(Data(bytes), file: "bad.json5") } throws: {
            "\($0)".contains("bad.json5:3:5") && "\($0)".contains("not UTF-8 text")
        }
    }

    @Test func mutatorIsSeededAndEdits() {
        var a = Mutator(seed: 1), b = Mutator(seed: 1)
        let input = Array("{ key: [1, 2, 3] }".utf8)
        let x = (0..<100).map { _ in a.mutate(input) }, y = (0..<100).map { _ in b.mutate(input) }
        #expect(x == y)
        #expect(x.filter { $0 != input }.count > 90)
    }
}
