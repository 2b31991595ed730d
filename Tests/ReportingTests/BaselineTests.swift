import Foundation
import Testing
@testable import Reporting

let baselinePath = "papers/nanogpt/expected/ci.json"

let sampleBaseline = Baseline(paper: "nanogpt", preset: "ci", metrics: [
    "val_loss": BaselineMetric(value: 1.23, atol: 1e-4, rtol: 1e-3),
    "train_loss": BaselineMetric(value: 1.1, atol: 1e-4, rtol: 0),
])

@Suite("Baseline checks")
struct BaselineTests {
    @Test func passesOnEqualMetrics() {
        let check = checkBaseline(obtained: ["val_loss": 1.23, "train_loss": 1.1], baseline: sampleBaseline)
        #expect(check.passed)
        #expect(check.failures.isEmpty)
        #expect(check.table.hasSuffix("PASS: 2 metrics within tolerance\n"))
    }

    @Test func toleranceIsAtolPlusRtolTimesExpected() {
        // Allowed: 1e-4 + 1e-3 · 1.23 = 0.00133.
        #expect(checkBaseline(obtained: ["val_loss": 1.23 + 0.00132, "train_loss": 1.1], baseline: sampleBaseline).passed)
        #expect(!checkBaseline(obtained: ["val_loss": 1.23 + 0.00134, "train_loss": 1.1], baseline: sampleBaseline).passed)
        #expect(!checkBaseline(obtained: ["val_loss": 1.23 - 0.00134, "train_loss": 1.1], baseline: sampleBaseline).passed)
    }

    @Test func failsBeyondToleranceAndTheTableShowsTheNumbers() {
        let check = checkBaseline(obtained: ["val_loss": 1.25, "train_loss": 1.1, "extra_metric": 3], baseline: sampleBaseline)
        #expect(!check.passed)
        #expect(check.failures.map(\.metric) == ["val_loss"])
        #expect(check.extra == ["extra_metric"])
        let lines = check.table.components(separatedBy: "\n")
        #expect(lines[0].split(separator: " ", omittingEmptySubsequences: true) == ["metric", "obtained", "expected", "diff", "tolerance", "ok"])
        let row = lines.first { $0.hasPrefix("val_loss") } ?? ""
        #expect(row.split(separator: " ", omittingEmptySubsequences: true) == ["val_loss", "1.25", "1.23", "+0.02", "0.00133", "FAIL"])
        #expect(check.table.contains("not in the baseline (not gated): extra_metric"))
        #expect(check.table.hasSuffix("FAIL: 1 outside tolerance (of 2 metrics)\n"))
        // Columns line up: every row puts "ok"/"FAIL" at the same offset.
        let okColumn = lines[0].range(of: "ok")!.lowerBound.utf16Offset(in: lines[0])
        #expect(row.range(of: "FAIL")!.lowerBound.utf16Offset(in: row) == okColumn)
    }

    @Test func missingMetricFails() {
        let check = checkBaseline(obtained: ["val_loss": 1.23], baseline: sampleBaseline)
        #expect(!check.passed)
        #expect(check.missing == ["train_loss"])
        let row = check.table.components(separatedBy: "\n").first { $0.hasPrefix("train_loss") } ?? ""
        #expect(row.split(separator: " ", omittingEmptySubsequences: true) == ["train_loss", "missing", "1.1", "-", "0.0001", "FAIL"])
        #expect(check.table.hasSuffix("FAIL: 1 missing (of 2 metrics)\n"))
    }

    @Test func nanAlwaysFails() {
        let loose = Baseline(paper: "p", preset: "ci", metrics: ["loss": BaselineMetric(value: 1, atol: 1e300, rtol: 1e300)])
        #expect(!checkBaseline(obtained: ["loss": .nan], baseline: loose).passed)
        #expect(!checkBaseline(obtained: ["loss": .infinity], baseline: loose).passed)
        #expect(checkBaseline(obtained: ["loss": 5], baseline: loose).passed)
    }

    @Test func timingRule() {
        for name in ["step_ms", "wall_s", "total_seconds", "tokens_per_s", "train_time", "TimeToLoss", "throughput_tok", "runtime",
                     "step_ms.attention", "stream_total_seconds.aaren", "tokens_per_s.mlp_min"] {
            #expect(isTimingMetric(name), "\(name)")
        }
        for name in ["val_loss", "speedup_model", "kv_bytes", "accuracy", "steps", "val_loss.max_s", "accuracy.aaren_ms"] {
            #expect(!isTimingMetric(name), "\(name)")
        }
    }

    @Test func blessExcludesTimingsAndKeepsTolerances() throws {
        let obtained = ["val_loss": 1.2301, "new_metric": 7.0, "step_ms": 12.5, "tokens_per_s": 1000, "eval_time": 3]
        let blessed = try bless(obtained: obtained, previous: sampleBaseline, defaults: Tolerance(atol: 1e-6, rtol: 1e-5),
                                paper: "nanogpt", preset: "ci")
        #expect(blessed.metrics.keys.sorted() == ["new_metric", "val_loss"])
        #expect(blessed.metrics["val_loss"] == BaselineMetric(value: 1.2301, atol: 1e-4, rtol: 1e-3))  // kept
        #expect(blessed.metrics["new_metric"] == BaselineMetric(value: 7, atol: 1e-6, rtol: 1e-5))  // defaults
        #expect(blessed.paper == "nanogpt" && blessed.preset == "ci")
        // A fresh bless passes its own check.
        #expect(checkBaseline(obtained: obtained, baseline: blessed).passed)
    }

    @Test func blessRefusesNaN() {
        let error = #expect(throws: ValidationError.self) {
            try bless(obtained: ["loss": .nan], previous: nil, defaults: Tolerance(atol: 0, rtol: 0), paper: "p", preset: "ci")
        }
        #expect(error?.item == "metric \"loss\"")
    }

    @Test func writeThenLoadRoundTrips() throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/ci.json"
        try sampleBaseline.write(to: path)
        let text = try String(contentsOfFile: path, encoding: .utf8)
        #expect(text == """
            {
              "version": 1,
              "paper": "nanogpt",
              "preset": "ci",
              "metrics": {
                "train_loss": { "value": 1.1, "atol": 0.0001, "rtol": 0.0 },
                "val_loss": { "value": 1.23, "atol": 0.0001, "rtol": 0.001 }
              }
            }

            """)
        #expect(try Baseline.load(path) == sampleBaseline)
        // Plain JSON too: Python and jq read the same file.
        #expect((try? JSONSerialization.jsonObject(with: Data(text.utf8))) != nil)
    }

    @Test func loadValidatesWithClearErrors() throws {
        func error(_ text: String) -> String {
            do {
                _ = try Baseline.decode(Data(text.utf8), file: baselinePath)
                return "no error"
            } catch {
                return "\(error)"
            }
        }
        let head = #""version": 1, "paper": "nanogpt", "preset": "ci""#
        #expect(error(#"{ \#(head), "metrics": { "val_loss": { "value": 1, "atol": 0 } } }"#)
                    == #"papers/nanogpt/expected/ci.json: metric "val_loss": field "rtol": missing (required)"#)
        #expect(error(#"{ \#(head), "metrics": { "val_loss": { "value": "1", "atol": 0, "rtol": 0 } } }"#)
                    == #"papers/nanogpt/expected/ci.json: metric "val_loss": field "value": expected a number, got a string ("1")"#)
        #expect(error(#"{ \#(head), "metrics": { "val_loss": { "value": 1, "atol": -1, "rtol": 0 } } }"#)
                    == #"papers/nanogpt/expected/ci.json: metric "val_loss": field "atol": must be >= 0, got -1"#)
        #expect(error(#"{ \#(head), "metrics": { "val_loss": { "value": 1, "atol": 0, "rtol": 0, "rtl": 0 } } }"#)
                    == #"papers/nanogpt/expected/ci.json: metric "val_loss": field "rtl": unknown field (allowed: value, atol, rtol); did you mean "rtol"?"#)
        #expect(error(#"{ \#(head), "metrics": { "step_ms": { "value": 1, "atol": 0, "rtol": 0 } } }"#)
                    == #"papers/nanogpt/expected/ci.json: metric "step_ms": is a timing (by its name); timings are never gated, remove it or rename the metric"#)
        #expect(error(#"{ "version": 2, "paper": "nanogpt", "preset": "ci", "metrics": {} }"#)
                    == #"papers/nanogpt/expected/ci.json: field "version": unsupported version 2 (this build reads version 1)"#)
        #expect(error(#"{ "version": 1, "preset": "ci", "metrics": {} }"#)
                    == #"papers/nanogpt/expected/ci.json: field "paper": missing (required)"#)
        #expect(error("{ \"version\": 1,\n \"paper\": \"x\" \"preset\": \"ci\" }")
                    == #"papers/nanogpt/expected/ci.json:2:15: invalid JSON5: expected ',' or '}' after the value of "paper", found '"'"#)
    }

    @Test func metricsFilesKeepNonFiniteValues() throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/metrics.json"
        try writeMetrics(["loss": .nan, "acc": 0.5, "big": .infinity], to: path)
        let read = try readMetrics(path)
        #expect(read["acc"] == 0.5)
        #expect(read["loss"]?.isNaN == true)
        #expect(read["big"] == .infinity)
        #expect(!checkBaseline(obtained: read, baseline: Baseline(paper: "p", preset: "ci", metrics: [
            "loss": BaselineMetric(value: 1, atol: 1, rtol: 0)])).passed)
    }
}
