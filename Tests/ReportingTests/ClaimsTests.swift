import Foundation
import Testing
@testable import Reporting

/// The file name every error message must carry.
let claimsPath = "papers/nanogpt/claims.json5"

/// The brief's example, with comments, unquoted keys and a trailing comma: JSON5 on purpose.
let exampleClaims = """
    { version: 1,
      paper: { title: "nanoGPT", authors: "Andrej Karpathy", year: 2022, url: "https://github.com/karpathy/nanoGPT" },
      claims: [
        { id: "baby.val_loss",            // unique, [a-z0-9._-]+
          group: "nanoGPT baseline",      // one report table per group
          source: "nanoGPT README.md line 88",
          quote: "gets us a loss of only 1.88",
          metric: "val_loss",
          better: "lower",
          scale: "paper",
          reported: 1.88,
          derived: null,
          unit: "nats/char",
          expect: { kind: "abs", tol: 0.07 } },
      ] }
    """

/// One valid claim; error cases edit it with `replacing`.
let validClaim = #"{ id: "baby.val_loss", group: "g", source: "README line 88", quote: "gets us 1.88", metric: "val_loss", better: "lower", scale: "paper", reported: 1.88, expect: { kind: "abs", tol: 0.07 } }"#

func claimsDocument(_ claims: [String], top: String = "version: 1, paper: { title: \"T\", authors: \"A\" },") -> String {
    "{ \(top)\n  claims: [\n    " + claims.joined(separator: ",\n    ") + "\n  ] }"
}

func decodeClaims(_ text: String) throws -> ClaimsFile {
    try ClaimsFile.decode(Data(text.utf8), file: claimsPath)
}

/// The error a document raises; fails the test when it decodes.
func claimsError(_ text: String, sourceLocation: SourceLocation = #_sourceLocation) -> ValidationError? {
    do {
        _ = try decodeClaims(text)
        Issue.record("expected a validation error", sourceLocation: sourceLocation)
        return nil
    } catch let error as ValidationError {
        return error
    } catch {
        Issue.record("unexpected error type: \(error)", sourceLocation: sourceLocation)
        return nil
    }
}

@Suite("Claims file")
struct ClaimsTests {
    @Test func decodesTheExample() throws {
        let file = try decodeClaims(exampleClaims)
        #expect(file.version == 1)
        #expect(file.paper == PaperInfo(title: "nanoGPT", authors: "Andrej Karpathy", year: 2022,
                                        url: "https://github.com/karpathy/nanoGPT"))
        #expect(file.claims.count == 1)
        let claim = try #require(file.claims.first)
        #expect(claim == Claim(id: "baby.val_loss", group: "nanoGPT baseline", source: "nanoGPT README.md line 88",
                               quote: "gets us a loss of only 1.88", metric: "val_loss", better: .lower,
                               scale: "paper", reported: .value(1.88), unit: "nats/char",
                               expect: ClaimExpectation(kind: .abs, tol: 0.07)))
        #expect(claim.comparison == .value(1.88))
        #expect(!claim.isQualitative)
    }

    @Test func decodesEveryOptionalShape() throws {
        let file = try decodeClaims(claimsDocument([
            #"{ id: "q", group: "g", source: "§4", quote: "smaller loss", metric: "d_loss", better: "lower", scale: "ci", reported: null, expect: { kind: "sign" } }"#,
            #"{ id: "r", group: "g", source: "Fig. 3", metric: "acc", better: "higher", scale: "paper", reported: [0.8, 0.9], expect: { kind: "range", tol: 0.01, same_scale_only: true } }"#,
            #"{ id: "d", group: "h", source: "§2.3", metric: "ratio", better: "none", scale: "tiny", reported: null, derived: 8, derivation: "T/L = 8", expect: { kind: "rel", tol: 0.01, neutral: 1 } }"#,
            #"{ id: "s", group: "h", source: "Abstract", metric: "speedup", better: "higher", scale: "paper", reported: 2.6, note: "GPU", expect: { kind: "report_only" } }"#,
        ]))
        #expect(file.claims.map(\.id) == ["q", "r", "d", "s"])
        #expect(file.claims[0].isQualitative)
        #expect(file.claims[1].reported == .range(0.8, 0.9))
        #expect(file.claims[1].expect.sameScaleOnly)
        #expect(file.claims[2].comparison == .value(8))
        #expect(file.claims[2].expect.neutral == 1)
        #expect(file.groups.map(\.name) == ["g", "h"])
        #expect(file.groups.map { $0.claims.count } == [2, 2])
    }

    @Test func loadsFromDiskAndNamesTheFile() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("claims-\(UUID())").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/claims.json5"
        try Data(exampleClaims.utf8).write(to: URL(fileURLWithPath: path))
        #expect(try ClaimsFile.load(path).claims.count == 1)

        let missing = directory + "/nope.json5"
        let error = #expect(throws: ValidationError.self) { try ClaimsFile.load(missing) }
        #expect(error?.description == "\(missing): no such file")
    }

    /// The brief's message, verbatim, then a typo hint.
    @Test func unknownKindMessageIsExact() throws {
        let error = try #require(claimsError(claimsDocument([validClaim.replacingOccurrences(of: "kind: \"abs\"", with: "kind: \"abss\"")])))
        #expect(error.description == #"papers/nanogpt/claims.json5: claim "baby.val_loss": field "expect.kind": unknown value "abss" (expected one of abs, rel, no_worse, sign, range, report_only); did you mean "abs"?"#)
        #expect(error.file == claimsPath)
        #expect(error.item == "claim \"baby.val_loss\"")
        #expect(error.field == "expect.kind")
    }

    struct ErrorCase: Sendable, CustomTestStringConvertible {
        var name: String
        /// (substring of `validClaim`, replacement); applied in order.
        var edits: [(String, String)]
        var item: String?
        var field: String?
        var problem: String
        var testDescription: String { name }
    }

    static let errorCases: [ErrorCase] = [
        ErrorCase(name: "unknown claim key", edits: [("quote:", "quotes:")], item: #"claim "baby.val_loss""#,
                  field: "quotes", problem: #"unknown field (allowed: id, group, source, quote, metric, better, scale, reported, derived, derivation, unit, note, expect); did you mean "quote"?"#),
        ErrorCase(name: "unknown expect key", edits: [("tol: 0.07", "tol: 0.07, tolerance: 1")], item: #"claim "baby.val_loss""#,
                  field: "expect.tolerance", problem: "unknown field (allowed: kind, tol, threshold, neutral, same_scale_only)"),
        ErrorCase(name: "missing metric", edits: [(#"metric: "val_loss", "#, "")], item: #"claim "baby.val_loss""#,
                  field: "metric", problem: "missing (required)"),
        ErrorCase(name: "missing reported", edits: [("reported: 1.88, ", "")], item: #"claim "baby.val_loss""#,
                  field: "reported", problem: "missing (required)"),
        ErrorCase(name: "missing expect", edits: [(", expect: { kind: \"abs\", tol: 0.07 }", "")], item: #"claim "baby.val_loss""#,
                  field: "expect", problem: "missing (required)"),
        ErrorCase(name: "reported as string", edits: [("reported: 1.88", #"reported: "1.88""#)], item: #"claim "baby.val_loss""#,
                  field: "reported", problem: #"expected a number, a [lo, hi] range or null, got a string ("1.88")"#),
        ErrorCase(name: "tol as string", edits: [("tol: 0.07", #"tol: "0.07""#)], item: #"claim "baby.val_loss""#,
                  field: "expect.tol", problem: #"expected a number, got a string ("0.07")"#),
        ErrorCase(name: "group as number", edits: [(#"group: "g""#, "group: 3")], item: #"claim "baby.val_loss""#,
                  field: "group", problem: "expected a string, got the number 3"),
        ErrorCase(name: "same_scale_only as string", edits: [("tol: 0.07", #"tol: 0.07, same_scale_only: "yes""#)], item: #"claim "baby.val_loss""#,
                  field: "expect.same_scale_only", problem: #"expected true or false, got a string ("yes")"#),
        ErrorCase(name: "unknown better", edits: [(#"better: "lower""#, #"better: "lowr""#)], item: #"claim "baby.val_loss""#,
                  field: "better", problem: #"unknown value "lowr" (expected one of lower, higher, none); did you mean "lower"?"#),
        ErrorCase(name: "qualitative without quote", edits: [(#"quote: "gets us 1.88", "#, ""), ("reported: 1.88", "reported: null"), ("kind: \"abs\", tol: 0.07", "kind: \"sign\"")],
                  item: #"claim "baby.val_loss""#, field: "quote",
                  problem: #"missing: a qualitative claim (reported: null) needs the paper's verbatim "quote""#),
        ErrorCase(name: "abs without tol", edits: [("kind: \"abs\", tol: 0.07", "kind: \"abs\"")], item: #"claim "baby.val_loss""#,
                  field: "expect.tol", problem: #"missing: kind "abs" needs a tolerance"#),
        ErrorCase(name: "rel without tol", edits: [("kind: \"abs\", tol: 0.07", "kind: \"rel\"")], item: #"claim "baby.val_loss""#,
                  field: "expect.tol", problem: #"missing: kind "rel" needs a tolerance"#),
        ErrorCase(name: "range lo > hi", edits: [("reported: 1.88", "reported: [2, 1]"), ("kind: \"abs\", tol: 0.07", "kind: \"range\"")],
                  item: #"claim "baby.val_loss""#, field: "reported", problem: "range [2, 1] has lo > hi"),
        ErrorCase(name: "range with three numbers", edits: [("reported: 1.88", "reported: [1, 2, 3]"), ("kind: \"abs\", tol: 0.07", "kind: \"range\"")],
                  item: #"claim "baby.val_loss""#, field: "reported", problem: "a range must be [lo, hi], got 3 element(s)"),
        ErrorCase(name: "range bound not a number", edits: [("reported: 1.88", #"reported: [1, "2"]"#), ("kind: \"abs\", tol: 0.07", "kind: \"range\"")],
                  item: #"claim "baby.val_loss""#, field: "reported[1]", problem: #"expected a number, got a string ("2")"#),
        ErrorCase(name: "range kind with a single number", edits: [("kind: \"abs\", tol: 0.07", "kind: \"range\"")],
                  item: #"claim "baby.val_loss""#, field: "reported", problem: #"kind "range" needs reported: [lo, hi] and no derived number, got a single number"#),
        ErrorCase(name: "abs with a range", edits: [("reported: 1.88", "reported: [1, 2]")], item: #"claim "baby.val_loss""#,
                  field: "reported", problem: #"kind "abs" needs a single number, got a range (use kind "range")"#),
        ErrorCase(name: "abs with nothing to compare", edits: [("reported: 1.88", "reported: null")], item: #"claim "baby.val_loss""#,
                  field: "reported", problem: #"kind "abs" needs a number to compare with (reported or derived)"#),
        ErrorCase(name: "non-finite reported", edits: [("reported: 1.88", "reported: NaN")], item: #"claim "baby.val_loss""#,
                  field: "reported", problem: "must be a finite number, got NaN"),
        ErrorCase(name: "negative tol", edits: [("tol: 0.07", "tol: -0.07")], item: #"claim "baby.val_loss""#,
                  field: "expect.tol", problem: "must be >= 0, got -0.07"),
        ErrorCase(name: "tol on sign", edits: [("kind: \"abs\"", "kind: \"sign\"")], item: #"claim "baby.val_loss""#,
                  field: "expect.tol", problem: #"not used by kind "sign""#),
        ErrorCase(name: "threshold on abs", edits: [("tol: 0.07", "tol: 0.07, threshold: 0")], item: #"claim "baby.val_loss""#,
                  field: "expect.threshold", problem: #"not used by kind "abs""#),
        ErrorCase(name: "sign with better none", edits: [(#"better: "lower""#, #"better: "none""#), ("kind: \"abs\", tol: 0.07", "kind: \"sign\"")],
                  item: #"claim "baby.val_loss""#, field: "better", problem: #"kind "sign" needs better: "lower" or "higher", not "none""#),
        ErrorCase(name: "no_worse with better none", edits: [(#"better: "lower""#, #"better: "none""#), ("kind: \"abs\"", "kind: \"no_worse\"")],
                  item: #"claim "baby.val_loss""#, field: "better", problem: #"kind "no_worse" needs better: "lower" or "higher", not "none""#),
        ErrorCase(name: "neutral equal to reported", edits: [("tol: 0.07", "tol: 0.07, neutral: 1.88")], item: #"claim "baby.val_loss""#,
                  field: "expect.neutral", problem: #"the compared value must lie strictly on one side of neutral 1.88, or "direction only" means nothing"#),
        ErrorCase(name: "derived without derivation", edits: [("reported: 1.88", "reported: 1.88, derived: 1.9")], item: #"claim "baby.val_loss""#,
                  field: "derivation", problem: #"missing: a "derived" number needs a "derivation" saying how it was obtained"#),
        ErrorCase(name: "bad id", edits: [(#"id: "baby.val_loss""#, #"id: "Baby val""#)], item: "claim #1",
                  field: "id", problem: #""Baby val" must match [a-z0-9._-]+"#),
        ErrorCase(name: "missing id", edits: [(#"id: "baby.val_loss", "#, "")], item: "claim #1",
                  field: "id", problem: "missing (required)"),
        ErrorCase(name: "empty source", edits: [(#"source: "README line 88""#, #"source: " ""#)], item: #"claim "baby.val_loss""#,
                  field: "source", problem: "must not be empty"),
    ]

    @Test(arguments: errorCases)
    func rejects(_ errorCase: ErrorCase) throws {
        var claim = validClaim
        for (old, new) in errorCase.edits {
            #expect(claim.contains(old), "edit \(old) does not apply")
            claim = claim.replacingOccurrences(of: old, with: new)
        }
        let error = try #require(claimsError(claimsDocument([claim])))
        #expect(error.file == claimsPath)
        #expect(error.item == errorCase.item)
        #expect(error.field == errorCase.field)
        #expect(error.problem == errorCase.problem)
        // The rendered message carries all three, in the order a reader looks for them.
        var expected = claimsPath
        if let item = errorCase.item { expected += ": " + item }
        if let field = errorCase.field { expected += ": field \"\(field)\"" }
        #expect(error.description == expected + ": " + errorCase.problem)
    }

    @Test func rejectsDuplicatedIds() throws {
        let error = try #require(claimsError(claimsDocument([validClaim, validClaim.replacingOccurrences(of: "\"g\"", with: "\"h\"")])))
        #expect(error.description == #"papers/nanogpt/claims.json5: claim "baby.val_loss": field "id": duplicated id (claims #1 and #2)"#)
    }

    @Test func namesALaterClaimByIndexUntilItsIdIsKnown() throws {
        let second = validClaim.replacingOccurrences(of: #"id: "baby.val_loss", "#, with: "")
        let error = try #require(claimsError(claimsDocument([validClaim, second])))
        #expect(error.description == #"papers/nanogpt/claims.json5: claim #2: field "id": missing (required)"#)
        let notObject = try #require(claimsError(claimsDocument([validClaim, "42"])))
        #expect(notObject.description == "papers/nanogpt/claims.json5: claim #2: expected an object, got the number 42")
    }

    @Test func rejectsTopLevelProblems() throws {
        let version = try #require(claimsError(claimsDocument([validClaim], top: #"version: 2, paper: { title: "T", authors: "A" },"#)))
        #expect(version.description == #"papers/nanogpt/claims.json5: field "version": unsupported version 2 (this build reads version 1)"#)

        let title = try #require(claimsError(claimsDocument([validClaim], top: #"version: 1, paper: { authors: "A" },"#)))
        #expect(title.description == #"papers/nanogpt/claims.json5: field "paper.title": missing (required)"#)

        let year = try #require(claimsError(claimsDocument([validClaim], top: #"version: 1, paper: { title: "T", authors: "A", year: 2024.5 },"#)))
        #expect(year.description == #"papers/nanogpt/claims.json5: field "paper.year": expected an integer, got 2024.5"#)

        let unknown = try #require(claimsError(claimsDocument([validClaim], top: #"version: 1, paper: { title: "T", authors: "A" }, papers: 1,"#)))
        #expect(unknown.description == #"papers/nanogpt/claims.json5: field "papers": unknown field (allowed: version, paper, claims); did you mean "paper"?"#)

        let list = try #require(claimsError(#"{ version: 1, paper: { title: "T", authors: "A" }, claims: { } }"#))
        #expect(list.description == #"papers/nanogpt/claims.json5: field "claims": expected an array of claims, got an object"#)

        let root = try #require(claimsError("[1, 2]"))
        #expect(root.description == "papers/nanogpt/claims.json5: expected an object, got an array")
    }

    @Test func syntaxErrorsNameFileLineAndColumn() throws {
        // Missing comma after `group: "g"` on line 3.
        let text = "{ version: 1, paper: { title: \"T\", authors: \"A\" },\n  claims: [\n    { id: \"x\", group: \"g\"\n      source: \"s\" } ] }"
        let error = try #require(claimsError(text))
        #expect(error.file == claimsPath)
        #expect(error.line == 4)
        #expect(error.column == 7)
        #expect(error.description == #"papers/nanogpt/claims.json5:4:7: invalid JSON5: expected ',' or '}' after the value of "group", found 'source'"#)

        let unterminated = try #require(claimsError("{ version: 1,\n  paper: { title: \"T }\n}"))
        #expect(unterminated.description == "papers/nanogpt/claims.json5:2:19: invalid JSON5: unterminated string")

        let bareWord = try #require(claimsError("{ version: 1,\n  // a comment\n  paper: nope }"))
        #expect(bareWord.description == "papers/nanogpt/claims.json5:3:10: invalid JSON5: unexpected word 'nope' (strings need quotes)")

        let unclosed = try #require(claimsError("{ version: 1,\n  claims: [\n"))
        #expect(unclosed.description == "papers/nanogpt/claims.json5:2:11: invalid JSON5: unexpected end of file: '[' is never closed")
    }

    /// Foundation keeps one of two equal keys without a word; a pasted claim must not hide one.
    @Test func duplicatedKeysAreAnError() throws {
        let text = claimsDocument([validClaim.replacingOccurrences(of: "reported: 1.88", with: "reported: 1.88,\n reported: 2")])
        let error = try #require(claimsError(text))
        #expect(error.line == 4)
        #expect(error.description.hasPrefix("papers/nanogpt/claims.json5:4:2: invalid JSON5: duplicated key \"reported\""))
    }

    @Test func scannerAcceptsWhatFoundationAccepts() {
        let samples = [
            exampleClaims,
            "{ 'single': 'quoted', hex: 0x1F, lead: .5, trail: 5., plus: +1, inf: -Infinity, nan: NaN, e: 1e-3, /* block\n comment */ \"q\": [1, 2,], }",
            "[\"line \\\n continued\", 'it\\'s']",
            "\u{FEFF}{ a: 1 }",
        ]
        for sample in samples {
            #expect(JSON5Scanner.firstSyntaxError(in: Data(sample.utf8)) == nil, "\(sample)")
            #expect((try? parseJSON5(Data(sample.utf8), file: "x")) != nil, "\(sample)")
        }
    }
}
