import Foundation
import Testing
@testable import Replicate

// Every config key of every paper, given boundary values on the command line: the binary either
// accepts the value or refuses it with one "error: config key …" line and exit status 1, never a
// signal (a precondition trap, an overflow, a bad allocation). `validate` resolves and checks the
// config as `run` does and writes nothing, so the walk takes seconds.

/// The papers with a built executable.
private let papers: [String] = {
    let names = (try? FileManager.default.contentsOfDirectory(atPath: packageRoot + "/papers")) ?? []
    return names.filter { FileManager.default.fileExists(atPath: packageRoot + "/papers/\($0)/main.swift") && packageExecutable($0) != nil }.sorted()
}()

/// (key, kind) from `<paper> --help`'s config-key lines: "  train.max_iters (number): 5000".
func configKeys(_ paper: String) throws -> [(key: String, kind: String)] {
    let r = try runProcess(packageExecutable(paper)!, ["--help"])
    return r.output.split(separator: "\n").compactMap { line -> (String, String)? in
        guard line.hasPrefix("  "), let open = line.firstIndex(of: "("), let close = line.firstIndex(of: ")"), open < close,
              line[line.index(close, offsetBy: 1)...].hasPrefix(":") else { return nil }
        let key = line[..<open].trimmingCharacters(in: .whitespaces)
        guard !key.isEmpty, !key.contains(" ") else { return nil }
        return (key, String(line[line.index(after: open)..<close]))
    }
}

/// The boundary values tried for a key of this kind.
func boundaryValues(_ kind: String) -> [String] {
    switch kind {       // JSONValue.kind's words, as --help prints them
    case "a number": return ["0", "-1", "1e12", "1e30", "nan", "-inf", "0.5"]
    case "true or false": return ["maybe", ""]
    case "a string": return ["", "no-such-choice"]
    default: return ["", "0", "-1", "1e12", "nan", "x"]          // lists: empty, boundary elements, not a number
    }
}

@Suite struct ConfigWalkTests {
    @Test(arguments: papers)
    func everyKeyTakesBoundaryValuesWithoutASignal(_ paper: String) throws {
        let keys = try configKeys(paper)
        #expect(keys.count >= 3, "\(paper) --help listed no config keys")
        let exe = packageExecutable(paper)!
        var acceptedNegative: [String] = []
        for (key, kind) in keys {
            for value in boundaryValues(kind) {
                let (p, err) = try launch(["validate", "--preset", "ci", "\(key)=\(value)"], executable: exe)
                let text = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
                p.waitUntilExit()
                #expect(p.terminationReason == .exit, "\(paper) \(key)=\(value): killed by signal \(p.terminationStatus)\n\(text)")
                #expect(p.terminationStatus == 0 || p.terminationStatus == 1, "\(paper) \(key)=\(value): exit \(p.terminationStatus)\n\(text)")
                if p.terminationStatus == 1 {
                    let lines = text.split(separator: "\n")
                    #expect(lines.count == 1 && lines[0].hasPrefix("error: ") && text.contains(key.split(separator: ".").last!),
                            "\(paper) \(key)=\(value): not one error line naming the key:\n\(text)")
                } else if value == "-1" { acceptedNegative.append(key) }
            }
        }
        // No key of any paper means anything by a negative number: every range check must say so.
        #expect(acceptedNegative.isEmpty, "\(paper) accepts -1 for \(acceptedNegative)")
    }

    @Test func validatePrintsTheResolvedConfigAndWritesNothing() throws {
        let exe = try #require(packageExecutable("_template"))
        let runs = try temporaryDirectory("validate")
        defer { try? FileManager.default.removeItem(atPath: runs) }
        let r = try runProcess(exe, ["validate", "--preset", "ci", "--seeds", "4", "--runs", runs])
        #expect(r.status == 0 && r.output.contains("\"seeds\":[4]"), "\(r.output)")
        #expect((try? FileManager.default.contentsOfDirectory(atPath: runs))?.isEmpty ?? true)
    }
}
