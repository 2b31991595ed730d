import Foundation

/// A user-facing error: printed as one line, exit status 1, no stack trace.
public struct ReplicateError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// Apply `key=value` overrides to a Codable config, type-checked by the config's own decoder:
/// the config goes to JSON, each key must already exist, the patched JSON must decode back.
/// (nanoGPT's configurator does this with `exec`; here a typo is an error, not a new variable.)
public func applyOverrides<C: Codable>(_ overrides: [String], to config: C) throws -> C {
    guard !overrides.isEmpty else { return config }
    guard case .object(var dict) = try JSONDecoder().decode(JSONValue.self, from: configEncoder().encode(config)) else {
        throw ReplicateError("config is not a JSON object")
    }
    for item in overrides {
        guard let eq = item.firstIndex(of: "=") else { throw ReplicateError("override \"\(item)\" is not key=value") }
        let key = String(item[..<eq]), raw = String(item[item.index(after: eq)...])
        guard let old = dict[key] else {
            throw ReplicateError("unknown config key \"\(key)\"; valid keys: \(dict.keys.sorted().joined(separator: ", "))")
        }
        // Read the text as the kind of value the key holds now; the decoder then checks the
        // exact type (an iteration count rejects 2000.5).
        let value: JSONValue?
        switch old {
        case .bool: value = Bool(raw).map(JSONValue.bool)
        case .number: value = Double(raw).flatMap { $0.isFinite ? JSONValue.number($0) : nil }
        case .string: value = .string(raw)
        case .array(let a):
            let parts = raw.split(separator: ",").map(String.init)
            switch a.first {
            case .number?: value = parts.allSatisfy({ Double($0) != nil }) ? .array(parts.map { .number(Double($0)!) }) : nil
            default: value = .array(parts.map(JSONValue.string))
            }
        default: value = nil
        }
        guard let value else { throw ReplicateError("config key \"\(key)\" takes \(old.kind), got \"\(raw)\"") }
        dict[key] = value
        do { _ = try configDecoder().decode(C.self, from: JSONEncoder().encode(JSONValue.object(dict))) } catch {
            throw ReplicateError("config key \"\(key)\" cannot be \"\(raw)\" (\(old.kind) of another type expected)")
        }
    }
    return try configDecoder().decode(C.self, from: JSONEncoder().encode(JSONValue.object(dict)))
}

/// Configs are written with nanoGPT-style snake_case keys (`max_iters`, `n_embd`).
func configEncoder() -> JSONEncoder {
    let e = JSONEncoder()
    e.keyEncodingStrategy = .convertToSnakeCase
    e.outputFormatting = [.sortedKeys]
    return e
}

func configDecoder() -> JSONDecoder {
    let d = JSONDecoder()
    d.keyDecodingStrategy = .convertFromSnakeCase
    return d
}

/// Just enough JSON to patch a config generically.
enum JSONValue: Codable, Equatable {
    case bool(Bool), number(Double), string(String), array([JSONValue]), object([String: JSONValue]), null

    init(from decoder: Decoder) throws {
        let c = try decoder.singleValueContainer()
        if c.decodeNil() { self = .null }
        else if let b = try? c.decode(Bool.self) { self = .bool(b) }
        else if let d = try? c.decode(Double.self) { self = .number(d) }
        else if let s = try? c.decode(String.self) { self = .string(s) }
        else if let a = try? c.decode([JSONValue].self) { self = .array(a) }
        else { self = .object(try c.decode([String: JSONValue].self)) }
    }

    func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        switch self {
        case .bool(let b): try c.encode(b)
        case .number(let d):
            // Whole numbers go out as integers so Int fields decode them.
            if d == d.rounded(), abs(d) < 1e15 { try c.encode(Int64(d)) } else { try c.encode(d) }
        case .string(let s): try c.encode(s)
        case .array(let a): try c.encode(a)
        case .object(let o): try c.encode(o)
        case .null: try c.encodeNil()
        }
    }

    var kind: String {
        switch self {
        case .bool: return "true or false"
        case .number: return "a number"
        case .string: return "a string"
        case .array: return "a comma-separated list"
        case .object: return "an object"
        case .null: return "null"
        }
    }
}

/// JSON text of a config with sorted keys: stored in checkpoints and compared on resume.
public func canonicalJSON<C: Encodable>(_ config: C) -> String {
    String(decoding: (try? configEncoder().encode(config)) ?? Data(), as: UTF8.self)
}
