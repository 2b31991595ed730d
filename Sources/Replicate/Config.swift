import Foundation
import Reporting

/// A user-facing error: printed as one line, exit status 1, no stack trace.
public struct ReplicateError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// A paper's config: Codable (written to config.json and checked on resume), with the seeds a
/// run uses (`--seeds` sets them, so config.json, the report and every HDF5 file name the seeds
/// that ran) and a range check that runs before anything is started.
public protocol PaperConfig: Codable, Sendable {
    var seeds: [UInt64] { get set }
    /// A one-line error for the first value out of its range; nothing is written before it passes.
    func validate() throws
}

extension PaperConfig {
    public func validate() throws {}
}

/// Apply `key=value` overrides to a Codable config, type-checked by the config's own decoder:
/// the config goes to JSON, each key must already exist, the patched JSON must decode back.
/// (nanoGPT's configurator does this with `exec`; here a typo is an error, not a new variable.)
///
/// A key is a path into nested objects (`train.max_iters`) or, when unambiguous, the last part
/// alone (`max_iters`): the keys nanoGPT users type keep working in configs that group them.
public func applyOverrides<C: Codable>(_ overrides: [String], to config: C) throws -> C {
    guard !overrides.isEmpty else { return config }
    guard case .object(var root) = try JSONDecoder().decode(JSONValue.self, from: configEncoder().encode(config)) else {
        throw ReplicateError("config is not a JSON object")
    }
    let leaves = leafPaths(root)
    for item in overrides {
        guard let eq = item.firstIndex(of: "=") else { throw ReplicateError("override \"\(item)\" is not key=value") }
        let key = String(item[..<eq]), raw = String(item[item.index(after: eq)...])
        let path = try resolveKey(key, among: leaves)
        let old = leaves.first { $0.path == path }!.value
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
        root = JSONValue.object(root).setting(path[...], to: value)
        do { _ = try configDecoder().decode(C.self, from: JSONEncoder().encode(JSONValue.object(root))) } catch {
            if let choice = error as? ConfigChoiceError {
                throw ReplicateError("config key \"\(key)\" cannot be \"\(raw)\": \(choice.message)")
            }
            throw ReplicateError("config key \"\(key)\" cannot be \"\(raw)\" (\(old.kind) of another type expected)")
        }
    }
    return try configDecoder().decode(C.self, from: JSONEncoder().encode(JSONValue.object(root)))
}

/// A config field with named choices (`feature_map=silu`): a value that is none of them is an
/// error that lists them.
public protocol ConfigChoice: CaseIterable, Codable, RawRepresentable, Sendable where RawValue == String {}

extension ConfigChoice {
    public init(from decoder: Decoder) throws {
        let container = try decoder.singleValueContainer()
        let raw = try container.decode(String.self)
        guard let value = Self(rawValue: raw) else {
            throw ConfigChoiceError(message: "must be one of " + Self.allCases.map { "\"\($0.rawValue)\"" }.joined(separator: ", "))
        }
        self = value
    }
}

struct ConfigChoiceError: Error { let message: String }

/// Every non-object value of a config with its path (["train", "max_iters"]).
func leafPaths(_ object: [String: JSONValue], prefix: [String] = []) -> [(path: [String], value: JSONValue)] {
    object.keys.sorted().flatMap { k -> [(path: [String], value: JSONValue)] in
        if case .object(let inner) = object[k]! { return leafPaths(inner, prefix: prefix + [k]) }
        return [(prefix + [k], object[k]!)]
    }
}

/// The one leaf a key names: its whole dotted path, or its last part when only one leaf has it.
func resolveKey(_ key: String, among leaves: [(path: [String], value: JSONValue)]) throws -> [String] {
    let parts = key.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
    if leaves.contains(where: { $0.path == parts }) { return parts }
    let matches = leaves.filter { $0.path.last == key }
    if matches.count == 1 { return matches[0].path }
    if matches.count > 1 {
        throw ReplicateError("config key \"\(key)\" is ambiguous; say which: \(matches.map { $0.path.joined(separator: ".") }.joined(separator: ", "))")
    }
    // Leaf names where they are unique, paths where two groups share one.
    let names = Set(leaves.map { leaf in
        leaves.filter { $0.path.last == leaf.path.last }.count == 1 ? leaf.path.last! : leaf.path.joined(separator: ".")
    }).sorted()
    throw ReplicateError("unknown config key \"\(key)\"\(suggestion(for: key, among: names)); valid keys: \(names.joined(separator: ", "))")
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

    /// This object with the value at `path` replaced.
    func setting(_ path: ArraySlice<String>, to value: JSONValue) -> [String: JSONValue] {
        guard case .object(var o) = self, let head = path.first else { return [:] }
        o[head] = path.count == 1 ? value : .object(o[head]!.setting(path.dropFirst(), to: value))
        return o
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
