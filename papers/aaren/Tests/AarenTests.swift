import Foundation
import Testing
import Replicate
@testable import Aaren

// The scan operator, the scan against the recurrence and the direct softmax (extreme scores
// included), its backward rule against float64 finite differences, the layers (gradients,
// causality, parameter counts), streaming against a parallel pass, and the two data readers.

private func randomState(_ rng: inout RNG, d: Int) -> ScanState {
    var s = ScanState.identity(0)
    for _ in 0..<(1 + rng.nextInt(below: 4)) {
        s = s ⊕ .leaf(score: Double(10 * rng.nextNormal()), value: (0..<d).map { _ in Double(rng.nextNormal()) })
    }
    return s.w.isEmpty ? .leaf(score: 0, value: [Double](repeating: 0, count: d)) : s
}

private func close(_ a: ScanState, _ b: ScanState, _ tol: Double = 1e-12) -> Bool {
    // States are equal up to the common scale e^m: compare the outputs and m.
    a.m == b.m && zip(a.output, b.output).allSatisfy { abs($0 - $1) <= tol * max(1, abs($1)) }
}

@Suite struct OperatorTests {
    @Test func associativeCommutativeWithIdentity() {
        var rng = RNG(seed: 1)
        for _ in 0..<200 {
            let a = randomState(&rng, d: 3), b = randomState(&rng, d: 3), c = randomState(&rng, d: 3)
            #expect(close((a ⊕ b) ⊕ c, a ⊕ (b ⊕ c)))
            #expect(close(a ⊕ b, b ⊕ a))
            let left = ScanState.identity(3) ⊕ a, right = a ⊕ ScanState.identity(3)
            #expect(left == a)
            #expect(right == a)
        }
    }

    @Test func emptyPrefixesNeverMakeNaN() {
        // exp(−∞ − (−∞)) would be NaN: the operator skips an empty side instead.
        let e = ScanState.identity(2)
        #expect(e ⊕ e == e)
        #expect(e.output == [0, 0])
        let x = ScanState.leaf(score: -1e300, value: [1, 2])
        #expect((e ⊕ x).output == [1, 2])
    }

    @Test func thePapersInitialStateFailsOnVeryNegativeScores() {
        // (0, 0, 0) as printed: ⊕ keeps m = 0 above scores near −800, their weights underflow, u = 0, 0/0.
        var paper = ScanState.paperInitial(1), ours = ScanState.identity(1)
        for s in [-800.0, -801, -799.5] { paper = paper ⊕ .leaf(score: s, value: [2]); ours = ours ⊕ .leaf(score: s, value: [2]) }
        #expect(paper.u == 0)
        let ratios = paper.w.map { $0 / paper.u }
        #expect(ratios.allSatisfy { $0.isNaN })
        #expect(abs(ours.output[0] - 2) < 1e-15)
    }
}

@Suite struct ScanTests {
    /// Scores of every kind the issue names: ordinary, ±100, all equal, all far below 0.
    nonisolated(unsafe) static let scoreKinds: [(String, (inout RNG) -> Float)] = [
        ("normal", { 3 * $0.nextNormal() }), ("±100", { $0.nextFloat() < 0.5 ? -100 : 100 }),
        ("equal", { _ in 7 }), ("underflow", { -800 - 50 * $0.nextFloat() }),
    ]

    @Test(arguments: [1, 2, 7, 64, 257], [1, 2, 3, 7])
    func scanEqualsRecurrenceAndSoftmax(n: Int, chunks: Int) {
        var rng = RNG(seed: UInt64(n * 10 + chunks))
        for (name, draw) in Self.scoreKinds {
            let rows = 3, d = 5
            let s = (0..<(rows * n)).map { _ in draw(&rng) }, v = (0..<(rows * n * d)).map { _ in rng.nextNormal() }
            let direct = directPrefixAttention(scores: s.map(Double.init), values: v.map(Double.init), rows: rows, n: n, d: d)
            let sequential = sequentialPrefixAttention(scores: s.map(Double.init), values: v.map(Double.init), rows: rows, n: n, d: d)
            #expect(zip(sequential, direct).allSatisfy { abs($0 - $1) <= 1e-12 }, "\(name): float64 recurrence")
            let o = noGrad { prefixAttention(scores: Tensor(s, shape: [rows, n]), values: Tensor(v, shape: [rows, n, d]), chunks: chunks) }
            let c = closeness(o.toArray(), direct, atol: 2e-6, rtol: 1e-5)
            #expect(c.ok, "\(name), N \(n), \(chunks) chunks: \(c)")
        }
    }

    @Test func chunkCountsAgreeAndThreadsDoNotMatter() {
        var rng = RNG(seed: 5)
        let (rows, n, d) = (2, 300, 8)
        let s = Tensor((0..<(rows * n)).map { _ in 4 * rng.nextNormal() }, shape: [rows, n])
        let v = Tensor((0..<(rows * n * d)).map { _ in rng.nextNormal() }, shape: [rows, n, d])
        let one = noGrad { prefixAttention(scores: s, values: v, chunks: 1) }.toArray()
        for chunks in [2, 5, 300] {
            let c = closeness(noGrad { prefixAttention(scores: s, values: v, chunks: chunks) }.toArray(), one, atol: 1e-6, rtol: 1e-5)
            #expect(c.ok, "\(chunks) chunks: \(c)")
        }
        let a = Parallel.withThreads(1) { noGrad { prefixAttention(scores: s, values: v, chunks: 3) }.toArray() }
        let b = Parallel.withThreads(3) { noGrad { prefixAttention(scores: s, values: v, chunks: 3) }.toArray() }
        #expect(a == b, "a fixed chunk count must give the same bits on any thread count")
    }

    @Test(arguments: [1, 2, 3])
    func gradientsMatchFiniteDifferences(chunks: Int) {
        var rng = RNG(seed: UInt64(chunks))
        let (rows, n, d) = (2, 9, 3)
        let s = Tensor((0..<(rows * n)).map { _ in 2 * rng.nextNormal() }, shape: [rows, n])
        let v = Tensor((0..<(rows * n * d)).map { _ in rng.nextNormal() }, shape: [rows, n, d])
        let r = gradCheck([s, v], eps: 1e-2, atol: 2e-3, rtol: 2e-2) { prefixAttention(scores: $0[0], values: $0[1], chunks: chunks) }
        #expect(r.ok, "\(r)")
    }

    @Test func backwardMatchesFloat64FiniteDifferencesOnExtremeScores() {
        // The float32 backward rule against central differences of the float64 definition.
        var rng = RNG(seed: 9)
        let (rows, n, d) = (2, 40, 4)
        let sValues = (0..<(rows * n)).map { i -> Float in i % 5 == 0 ? 60 + rng.nextNormal() : 2 * rng.nextNormal() - (i % 7 == 0 ? 80 : 0) }
        let vValues = (0..<(rows * n * d)).map { _ in rng.nextNormal() }
        let weights = (0..<(rows * n * d)).map { _ in Double(rng.nextNormal()) }
        let s = Tensor(sValues, shape: [rows, n], requiresGrad: true), v = Tensor(vValues, shape: [rows, n, d], requiresGrad: true)
        prefixAttention(scores: s, values: v, chunks: 3).backward(seed: weights.map(Float.init))
        func loss(_ sd: [Double], _ vd: [Double]) -> Double {
            zip(directPrefixAttention(scores: sd, values: vd, rows: rows, n: n, d: d), weights).map(*).reduce(0, +)
        }
        let s64 = sValues.map(Double.init), v64 = vValues.map(Double.init), h = 1e-6
        for i in stride(from: 0, to: rows * n, by: 3) {
            var p = s64, m = s64
            p[i] += h; m[i] -= h
            let fd = (loss(p, v64) - loss(m, v64)) / (2 * h)
            #expect(abs(Double(s.grad!.data[i]) - fd) <= 1e-4 + 1e-3 * abs(fd), "ds[\(i)]: \(s.grad!.data[i]) vs \(fd)")
        }
        for i in stride(from: 0, to: rows * n * d, by: 7) {
            var p = v64, m = v64
            p[i] += h; m[i] -= h
            let fd = (loss(s64, p) - loss(s64, m)) / (2 * h)
            #expect(abs(Double(v.grad!.data[i]) - fd) <= 1e-4 + 1e-3 * abs(fd), "dv[\(i)]: \(v.grad!.data[i]) vs \(fd)")
        }
    }
}

@Suite struct LayerTests {
    @Test func parameterCountsMatchThePaper() {
        var rng = RNG(seed: 1)
        #expect(TransformerLayer(dModel: 512, heads: 8, ffWidth: 2048, rng: &rng).parameterCount == 3_152_384)
        #expect(AarenLayer(dModel: 512, heads: 8, ffWidth: 2048, rng: &rng).parameterCount == 3_152_896)
    }

    @Test func aarenLayerGradientCheck() {
        var rng = RNG(seed: 2)
        let layer = AarenLayer(dModel: 8, heads: 2, ffWidth: 16, rng: &rng)
        let x = Tensor((0..<(2 * 5 * 8)).map { _ in rng.nextNormal() }, shape: [2, 5, 8])
        let params = [layer.queryToken, layer.qkv.weight, layer.qkv.bias!]
        let r = gradCheck([x] + params, eps: 1e-2, atol: 3e-3, rtol: 3e-2) { _ in layer(x) }
        #expect(r.ok, "\(r)")
    }

    @Test(arguments: LayerKind.allCases)
    func layersAreCausal(kind: LayerKind) {
        var rng = RNG(seed: 3)
        let model = SequenceModel(kind: kind, channels: 3, outputs: 2, dModel: 16, heads: 2, ffWidth: 32, layers: 2, seed: 4)
        let (n, ch) = (12, 3)
        let x = (0..<(n * ch)).map { _ in rng.nextNormal() }
        let base = noGrad { model(Tensor(x, shape: [1, n, ch])) }.toArray()
        for cut in 0..<(n - 1) {
            var y = x
            for i in ((cut + 1) * ch)..<(n * ch) { y[i] += 5 * rng.nextNormal() }
            let out = noGrad { model(Tensor(y, shape: [1, n, ch])) }.toArray()
            #expect(Array(out[0..<((cut + 1) * 2)]) == Array(base[0..<((cut + 1) * 2)]), "\(kind): cut \(cut) leaks the future")
            #expect(out != base)
        }
    }

    @Test func streamingEqualsAParallelPass() {
        var rng = RNG(seed: 5)
        let (n, c) = (40, 16)
        let aaren = AarenLayer(dModel: c, heads: 2, ffWidth: 32, rng: &rng), transformer = TransformerLayer(dModel: c, heads: 2, ffWidth: 32, rng: &rng)
        let x = (0..<(n * c)).map { _ in rng.nextNormal() }
        let streams: [(StreamingLayer, CausalLayer)] = [(AarenStream(aaren), aaren), (TransformerStream(transformer, capacity: n), transformer)]
        for (stream, layer) in streams {
            let full = noGrad { layer(Tensor(x, shape: [1, n, c])) }.toArray()
            var streamed: [Float] = []
            for t in 0..<n { streamed += stream.step(Tensor(Array(x[(t * c)..<((t + 1) * c)]), shape: [1, 1, c])).toArray() }
            let cl = closeness(streamed, full, atol: 1e-5, rtol: 1e-4)
            #expect(cl.ok, "\(type(of: stream)): \(cl)")
        }
        #expect(streams[0].0.stateBytes == (2 + 2 + c) * 4)          // m, u per head and w
        #expect(streams[1].0.stateBytes == 2 * n * c * 4)            // every key and value
    }
}

@Suite struct DataTests {
    static let header = "# comment\n@problemName Toy\n@timeStamps false\n@univariate false\n@dimensions 2\n@equalLength false\n@classLabel true a b\n@data\n"

    @Test func tsReaderReadsVariableLengthCases() throws {
        let s = try parseTS(Self.header + "1,2,3:4,5,6:b\n7:8:a\n", file: "toy.ts")
        #expect(s.count == 2 && s.channels == 2 && s.lengths == [3, 1] && s.labels == [1, 0])
        #expect(s.cases[0] == [1, 4, 2, 5, 3, 6])                      // time-major: (t, channel)
    }

    @Test(arguments: [
        ("1,2:3:c\n", "class \"c\" is not one of"), ("1,2:3\n", "expected 2 dimensions and a label"),
        ("1,x:3,4:a\n", "not a finite number"), ("1,2:3:a\n", "differ in length"),
    ])
    func tsReaderNamesTheLineOfEveryProblem(body: String, message: String) {
        #expect { try parseTS(Self.header + body, file: "toy.ts") } throws: { "\($0)".contains("toy.ts:9: ") && "\($0)".contains(message) }
    }

    @Test func tsReaderNeedsItsHeader() {
        #expect { try parseTS("@classLabel true a\n@data\n1:a\n", file: "t.ts") } throws: { "\($0)".contains("@data before @dimensions") }
        #expect { try parseTS("1,2:a\n", file: "t.ts") } throws: { "\($0)".contains("t.ts:1: expected a @ header line") }
        #expect { try parseTS(Self.header, file: "t.ts") } throws: { "\($0)".contains("no cases") }
    }

    @Test func co2GapsAreFilledLinearly() throws {
        let w = try parseCO2("date,co2\n19580329,316.1\n19580405,\n19580412,\n19580419,317.0\n", file: "co2.csv")
        #expect(w.filled == [false, true, true, false])
        #expect(abs(w.values[1] - 316.4) < 1e-4 && abs(w.values[2] - 316.7) < 1e-4)
        #expect { try parseCO2("date,co2\n19580329,\n19580405,1\n", file: "co2.csv") } throws: { "\($0)".contains("first and last weeks") }
        #expect { try parseCO2("when,co2\n", file: "co2.csv") } throws: { "\($0)".contains("header") }
    }

    @Test func theRealFilesParseAsTheNotesDescribe() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().deletingLastPathComponent().path
        let store = DataStore(root: root)
        let train = try parseTS(String(decoding: try store.load(.japaneseVowelsTrain), as: UTF8.self), file: "train")
        let test = try parseTS(String(decoding: try store.load(.japaneseVowelsTest), as: UTF8.self), file: "test")
        #expect(train.count == 270 && test.count == 370 && train.channels == 12 && train.classes.count == 9)
        #expect(train.lengths.min()! >= 7 && max(train.maxLength, test.maxLength) == 29)
        let co2 = try parseCO2(String(decoding: try store.load(.co2), as: UTF8.self), file: "co2")
        #expect(co2.values.count == 2284 && co2.filled.filter { $0 }.count == 59)
    }
}

/// The two readers on mutations of valid files: each input parses or throws, never traps
/// (`make fuzz` raises the count with REPLICATE_FUZZ_CASES).
@Suite struct ReaderFuzzTests {
    static let cases = Int(ProcessInfo.processInfo.environment["REPLICATE_FUZZ_CASES"] ?? "") ?? 20_000

    @Test func tsReaderOnlyThrows() {
        let valid = Array((DataTests.header + "1,2,3:4,5,6:b\n7:8:a\n0.5,1e3,-2:NaN,4,?:b\n").utf8)
        var m = Mutator(seed: 5), parsed = 0
        for _ in 0..<Self.cases where (try? parseTS(String(decoding: m.mutate(valid), as: UTF8.self), file: "fuzz.ts")) != nil { parsed += 1 }
        #expect(parsed < Self.cases)
    }

    @Test func co2ReaderOnlyThrows() {
        let valid = Array("date,co2\n19580329,316.1\n19580405,\n19580412,\n19580419,317.0\n19580426,317.5\n".utf8)
        var m = Mutator(seed: 6), parsed = 0
        for _ in 0..<Self.cases where (try? parseCO2(String(decoding: m.mutate(valid), as: UTF8.self), file: "fuzz.csv")) != nil { parsed += 1 }
        #expect(parsed < Self.cases)
    }
}
