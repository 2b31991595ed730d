import Foundation
import TensorCore

/// Character-level language-modelling data, as nanoGPT's `shakespeare_char/prepare.py`:
/// the vocabulary is the sorted set of characters, the first 90% is train, the rest val.
public struct CharDataset: Sendable {
    public let vocab: [Character]
    public let train: [Int32]
    public let val: [Int32]
    public let sha256: String
    private let index: [Character: Int32]

    public init(text: String, trainFraction: Double = 0.9) {
        vocab = Array(Set(text)).sorted()
        var index: [Character: Int32] = [:]
        for (i, c) in vocab.enumerated() { index[c] = Int32(i) }
        self.index = index
        let ids = text.map { index[$0]! }
        let n = Int(Double(ids.count) * trainFraction)
        train = Array(ids[..<n])
        val = Array(ids[n...])
        sha256 = sha256Hex(Array(text.utf8))
    }

    /// Tiny Shakespeare from the data store (verified by sha256, downloaded if missing).
    public static func tinyShakespeare(store: DataStore = DataStore()) throws -> CharDataset {
        let bytes = try store.load(.tinyShakespeare)
        return CharDataset(text: String(decoding: bytes, as: UTF8.self))
    }

    public var vocabSize: Int { vocab.count }

    public func encode(_ s: String) -> [Int32] { s.compactMap { index[$0] } }
    public func decode(_ ids: [Int32]) -> String { String(ids.map { vocab[Int($0)] }) }

    public enum Split: String, Sendable { case train, val }

    /// nanoGPT's `get_batch`: `batch` random windows of `block` tokens, targets shifted by one.
    /// Returns row-major (B, T) inputs and targets.
    public func batch(_ split: Split, batch: Int, block: Int, rng: inout RNG) -> (x: [Int32], y: [Int32]) {
        let data = split == .train ? train : val
        var x = [Int32](), y = [Int32]()
        x.reserveCapacity(batch * block); y.reserveCapacity(batch * block)
        for _ in 0..<batch {
            let i = rng.nextInt(below: data.count - block)
            x += data[i..<(i + block)]
            y += data[(i + 1)..<(i + block + 1)]
        }
        return (x, y)
    }
}
