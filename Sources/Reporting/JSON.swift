import Foundation

/// A parsed JSON5 document, before validation.
///
/// Claims and baselines are decoded into this untyped tree first, then validated field by
/// field, because `Codable`'s synthesized errors ("keyNotFound(CodingKeys(stringValue: ...")
/// name neither the file nor the claim, and it ignores unknown keys, so a typo such as
/// `tolerance:` for `tol:` would pass silently.
enum JSONValue: Equatable, Sendable, Decodable {
    case null
    case bool(Bool)
    case number(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    init(from decoder: Decoder) throws {
        let container = try decoder.singleValueContainer()
        // Bool before number: Foundation refuses to read `1` as a Bool and `true` as a number,
        // so the order only matters for speed.
        if container.decodeNil() {
            self = .null
        } else if let value = try? container.decode(Bool.self) {
            self = .bool(value)
        } else if let value = try? container.decode(Double.self) {
            self = .number(value)
        } else if let value = try? container.decode(String.self) {
            self = .string(value)
        } else if let value = try? container.decode([JSONValue].self) {
            self = .array(value)
        } else {
            self = .object(try container.decode([String: JSONValue].self))
        }
    }

    /// "a string (\"1.88\")", "an array", ... for "expected X, got Y" messages.
    var kindDescription: String {
        switch self {
        case .null: return "null"
        case .bool(let value): return "\(value)"
        case .number(let value): return "the number \(formatVerbatim(value))"
        case .string(let value):
            let shown = value.count > 40 ? String(value.prefix(40)) + "…" : value
            return "a string (\"\(shown)\")"
        case .array: return "an array"
        case .object: return "an object"
        }
    }
}

/// Reads a JSON5 file with Foundation's `JSONDecoder` (`allowsJSON5`).
///
/// Foundation on Linux reports syntax errors as a bare "The given data was not valid JSON",
/// so on failure `JSON5Scanner` re-reads the text to find the line and column. Foundation also
/// keeps one of two duplicated keys without a word; the scanner catches that too.
func readJSON5(path: String) throws -> JSONValue {
    guard let data = FileManager.default.contents(atPath: path) else {
        let reason = FileManager.default.fileExists(atPath: path) ? "cannot be read" : "no such file"
        throw ValidationError(file: path, problem: reason)
    }
    return try parseJSON5(data, file: path)
}

/// Parses JSON5 `data`; `file` names the source in errors.
func parseJSON5(_ data: Data, file: String) throws -> JSONValue {
    // Foundation's JSON5 scanner traps (not throws) on some invalid UTF-8, e.g. inside an
    // unquoted key (found by FuzzTests): such bytes are refused here first.
    if let bad = firstInvalidUTF8(data) {
        let line = 1 + data.prefix(bad).filter { $0 == UInt8(ascii: "\n") }.count
        let column = bad - (data.prefix(bad).lastIndex(of: UInt8(ascii: "\n")).map { $0 + 1 } ?? 0) + 1
        throw ValidationError(file: file, line: line, column: column, problem: "not UTF-8 text (byte \(bad) starts an invalid sequence)")
    }
    // Our scanner first: it places a syntax error by line and column, and Foundation's decoder
    // traps on some malformed JSON5 numbers instead of throwing (found by FuzzTests), so it
    // only ever sees text that scans.
    if let issue = JSON5Scanner.firstSyntaxError(in: data) {
        throw ValidationError(file: file, line: issue.line, column: issue.column, problem: "invalid JSON5: \(issue.message)")
    }
    let decoder = JSONDecoder()
    decoder.allowsJSON5 = true
    let value: JSONValue
    do {
        value = try decoder.decode(JSONValue.self, from: data)
    } catch {
        throw ValidationError(file: file, problem: "invalid JSON5 (\(describeDecodingError(error)))")
    }
    if let duplicate = JSON5Scanner.firstDuplicateKey(in: data) {
        throw ValidationError(file: file, line: duplicate.line, column: duplicate.column,
                              problem: "invalid JSON5: \(duplicate.message)")
    }
    return value
}

private func describeDecodingError(_ error: Error) -> String {
    if case DecodingError.dataCorrupted(let context) = error {
        return context.debugDescription
    }
    return "\(error)"
}

// MARK: - Field-by-field reading with located errors

/// Reads one JSON object, turning every problem into a `ValidationError` that names the
/// file, the item (claim or metric) and the full dotted field path.
struct ObjectReader {
    let fields: [String: JSONValue]
    let file: String
    let item: String?
    /// Dotted path of this object inside the item ("" for the item itself, "expect." below it).
    let prefix: String

    /// Fails unless `value` is an object; `path` is where it sits, for the message.
    init(_ value: JSONValue, file: String, item: String?, path: String?) throws {
        guard case .object(let fields) = value else {
            throw ValidationError(file: file, item: item, field: path,
                                  problem: "expected an object, got \(value.kindDescription)")
        }
        self.fields = fields
        self.file = file
        self.item = item
        self.prefix = path.map { $0 + "." } ?? ""
    }

    func error(_ key: String, _ problem: String) -> ValidationError {
        ValidationError(file: file, item: item, field: prefix + key, problem: problem)
    }

    /// Rejects keys outside `allowed`; `allowed` is listed in schema order in the message.
    func rejectUnknownKeys(allowed: [String]) throws {
        let unknown = fields.keys.filter { !allowed.contains($0) }.sorted()
        guard let first = unknown.first else { return }
        throw error(first, "unknown field (allowed: \(allowed.joined(separator: ", ")))\(suggestion(for: first, among: allowed))")
    }

    func has(_ key: String) -> Bool { fields[key] != nil }

    /// The value, or nil when absent or null.
    func optional(_ key: String) -> JSONValue? {
        switch fields[key] {
        case nil, .null?: return nil
        case let value?: return value
        }
    }

    func required(_ key: String) throws -> JSONValue {
        guard let value = fields[key] else { throw error(key, "missing (required)") }
        return value
    }

    func string(_ key: String) throws -> String {
        let value = try required(key)
        guard case .string(let text) = value else {
            throw error(key, "expected a string, got \(value.kindDescription)")
        }
        guard !text.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else {
            throw error(key, "must not be empty")
        }
        return text
    }

    func optionalString(_ key: String) throws -> String? {
        guard optional(key) != nil else { return nil }
        return try string(key)
    }

    /// A finite number: JSON5 admits `NaN` and `Infinity`, which no claim or tolerance can mean.
    func number(_ key: String) throws -> Double {
        let value = try required(key)
        return try finiteNumber(value, field: key)
    }

    func optionalNumber(_ key: String) throws -> Double? {
        guard optional(key) != nil else { return nil }
        return try number(key)
    }

    func nonNegativeNumber(_ key: String) throws -> Double {
        let value = try number(key)
        guard value >= 0 else { throw error(key, "must be >= 0, got \(formatVerbatim(value))") }
        return value
    }

    func optionalNonNegativeNumber(_ key: String) throws -> Double? {
        guard optional(key) != nil else { return nil }
        return try nonNegativeNumber(key)
    }

    func integer(_ key: String) throws -> Int {
        let value = try number(key)
        guard value.rounded() == value, abs(value) < 1e15 else {
            throw error(key, "expected an integer, got \(formatVerbatim(value))")
        }
        return Int(value)
    }

    func optionalInteger(_ key: String) throws -> Int? {
        guard optional(key) != nil else { return nil }
        return try integer(key)
    }

    func optionalBool(_ key: String) throws -> Bool? {
        guard let value = optional(key) else { return nil }
        guard case .bool(let flag) = value else {
            throw error(key, "expected true or false, got \(value.kindDescription)")
        }
        return flag
    }

    /// A string that must be one of `allowed`, e.g. `better` or `expect.kind`.
    func oneOf(_ key: String, _ allowed: [String]) throws -> String {
        let value = try required(key)
        guard case .string(let text) = value else {
            throw error(key, "expected one of \(allowed.joined(separator: ", ")), got \(value.kindDescription)")
        }
        guard allowed.contains(text) else {
            throw error(key, "unknown value \"\(text)\" (expected one of \(allowed.joined(separator: ", ")))\(suggestion(for: text, among: allowed))")
        }
        return text
    }

    func finiteNumber(_ value: JSONValue, field key: String) throws -> Double {
        guard case .number(let number) = value else {
            throw error(key, "expected a number, got \(value.kindDescription)")
        }
        guard number.isFinite else { throw error(key, "must be a finite number, got \(formatVerbatim(number))") }
        return number
    }
}

/// The byte offset of the first invalid UTF-8 sequence, or nil when all of `data` is valid.
func firstInvalidUTF8(_ data: Data) -> Int? {
    var parser = Unicode.UTF8.ForwardParser(), bytes = data.makeIterator(), offset = 0
    while true {
        switch parser.parseScalar(from: &bytes) {
        case .valid(let scalar): offset += scalar.count
        case .error: return offset
        case .emptyInput: return nil
        }
    }
}
