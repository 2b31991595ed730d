import Foundation
import Replicate

// The two real data sets (../shared/data/README.md): UEA JapaneseVowels and the Mauna Loa weekly
// CO2 series. Their public copies are files inside PyPI wheels (aeon 1.6.0, statsmodels 0.15.0),
// so a machine without ../shared downloads the wheel, checks it, and extracts the one file.

extension DataFile {
    static let aeonWheel = (url: "https://files.pythonhosted.org/packages/7d/49/034d8d142106e035fce019d8ee6f04d3ac8842490cd33f811d4df8e15da3/aeon-1.6.0-py3-none-any.whl",
                            sha256: "d05227086706f80111ac5fee8de4d5d3115bb3bcfd1c786c8629393055816409")
    static let statsmodelsWheel = (url: "https://files.pythonhosted.org/packages/fa/6f/235505a633776a2c1188e583e5a507a548b4fbd21abc14e199f1a84e8ee2/statsmodels-0.15.0-cp311-cp311-manylinux_2_27_x86_64.manylinux_2_28_x86_64.whl",
                                   sha256: "b67886b66d9c7ca118526accedb5c6de7ffd74c015dc0492ea0b1690192b65da")

    public static let japaneseVowelsTrain = DataFile(
        name: "JapaneseVowels/JapaneseVowels_TRAIN.ts", url: aeonWheel.url,
        sha256: "68a430eabd919cc77f40b1f5f3bc0dcafacc1486bca9260785aeb7d262cc78cd", bytes: 487_971,
        member: ("aeon/datasets/data/JapaneseVowels/JapaneseVowels_TRAIN.ts", aeonWheel.sha256))
    public static let japaneseVowelsTest = DataFile(
        name: "JapaneseVowels/JapaneseVowels_TEST.ts", url: aeonWheel.url,
        sha256: "b3d41d6a0ca3bcad3afb9ca7d4365382aa51341e2e58bae2a574babdda5b9462", bytes: 649_132,
        member: ("aeon/datasets/data/JapaneseVowels/JapaneseVowels_TEST.ts", aeonWheel.sha256))
    public static let co2 = DataFile(
        name: "statsmodels/co2.csv", url: statsmodelsWheel.url,
        sha256: "16695fa2786e53414e5a6b54767a3fdf5de99cfbc68617f69d1362d92776a92f", bytes: 33_974,
        member: ("statsmodels/datasets/co2/co2.csv", statsmodelsWheel.sha256))
}

/// A multivariate time-series classification set: each case (length_i, channels) and a label.
public struct LabelledSeries: Sendable {
    public var cases: [[Float]]          // case i: length_i × channels, row-major
    public var lengths: [Int]
    public var labels: [Int]             // 0-based class indices
    public var channels: Int
    public var classes: [String]         // the file's class names, in @classLabel order
    public var count: Int { labels.count }
    public var maxLength: Int { lengths.max() ?? 0 }
}

/// Parse the sktime/aeon `.ts` format: `#` comments, `@` header lines (`@dimensions`,
/// `@classLabel true …`, `@data`), then one case per line: dimensions separated by `:`, values by
/// `,`, the class label last. Every problem is an error naming the file, line and what is wrong.
public func parseTS(_ text: String, file: String) throws -> LabelledSeries {
    func fail(_ line: Int, _ problem: String) -> ReplicateError { ReplicateError("\(file):\(line): \(problem)") }
    var dimensions: Int?, classes: [String]?, inData = false
    var out = LabelledSeries(cases: [], lengths: [], labels: [], channels: 0, classes: [])
    for (index, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
        let n = index + 1
        let line = raw.trimmingCharacters(in: .whitespacesAndNewlines)
        if line.isEmpty || line.hasPrefix("#") { continue }
        if !inData {
            guard line.hasPrefix("@") else { throw fail(n, "expected a @ header line before @data, got \"\(line.prefix(40))\"") }
            let words = line.split(separator: " ").map(String.init)
            switch words[0].lowercased() {
            case "@dimensions":
                guard words.count == 2, let d = Int(words[1]), d >= 1 else { throw fail(n, "@dimensions needs a positive integer") }
                dimensions = d
            case "@classlabel":
                guard words.count >= 3, words[1] == "true" else { throw fail(n, "@classLabel must be \"true\" followed by the class names") }
                classes = Array(words[2...])
            case "@data":
                guard let dimensions else { throw fail(n, "@data before @dimensions") }
                guard let classes else { throw fail(n, "@data before @classLabel") }
                out.channels = dimensions; out.classes = classes
                inData = true
            default: continue                                   // @problemName, @timeStamps, …
            }
            continue
        }
        let parts = line.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
        guard parts.count == out.channels + 1 else {
            throw fail(n, "expected \(out.channels) dimensions and a label separated by \":\", got \(parts.count) fields")
        }
        guard let label = out.classes.firstIndex(of: parts.last!.trimmingCharacters(in: .whitespaces)) else {
            throw fail(n, "class \"\(parts.last!)\" is not one of @classLabel's \(out.classes)")
        }
        var columns: [[Float]] = []
        for (d, field) in parts.dropLast().enumerated() {
            let values = field.split(separator: ",").map { Float($0.trimmingCharacters(in: .whitespaces)) }
            guard !values.isEmpty, values.allSatisfy({ $0 != nil && $0!.isFinite }) else {
                throw fail(n, "dimension \(d + 1) has a value that is not a finite number")
            }
            columns.append(values.map { $0! })
        }
        let length = columns[0].count
        guard columns.allSatisfy({ $0.count == length }) else { throw fail(n, "dimensions of one case differ in length") }
        var rows = [Float](repeating: 0, count: length * out.channels)
        for t in 0..<length { for d in 0..<out.channels { rows[t * out.channels + d] = columns[d][t] } }
        out.cases.append(rows); out.lengths.append(length); out.labels.append(label)
    }
    guard inData else { throw ReplicateError("\(file): no @data section") }
    guard out.count > 0 else { throw ReplicateError("\(file): no cases after @data") }
    return out
}

/// A weekly series with its missing values filled: `filled` marks which ones were.
public struct WeeklySeries: Sendable {
    public var dates: [Int]              // YYYYMMDD
    public var values: [Float]
    public var filled: [Bool]
}

/// Parse statsmodels' co2.csv (`date,co2`, an empty co2 where the week is missing) and fill each
/// missing week by linear interpolation between the nearest observed weeks on either side (the
/// series has no missing value at either end).
public func parseCO2(_ text: String, file: String) throws -> WeeklySeries {
    var dates: [Int] = [], values: [Float?] = []
    for (index, raw) in text.split(separator: "\n").enumerated() {
        let line = raw.trimmingCharacters(in: .whitespacesAndNewlines)
        if index == 0 {
            guard line == "date,co2" else { throw ReplicateError("\(file):1: expected the header \"date,co2\", got \"\(line)\"") }
            continue
        }
        let f = line.split(separator: ",", omittingEmptySubsequences: false)
        guard f.count == 2, let date = Int(f[0]) else { throw ReplicateError("\(file):\(index + 1): expected \"YYYYMMDD,value\"") }
        dates.append(date)
        if f[1].isEmpty { values.append(nil); continue }
        guard let v = Float(f[1]), v.isFinite else { throw ReplicateError("\(file):\(index + 1): \"\(f[1])\" is not a number") }
        values.append(v)
    }
    guard let first = values.firstIndex(where: { $0 != nil }), let last = values.lastIndex(where: { $0 != nil }),
          first == 0, last == values.count - 1 else {
        throw ReplicateError("\(file): the first and last weeks must be observed to interpolate between them")
    }
    var filled = [Float](repeating: 0, count: values.count)
    var i = 0
    while i < values.count {
        if let v = values[i] { filled[i] = v; i += 1; continue }
        var j = i
        while values[j] == nil { j += 1 }
        let a = values[i - 1]!, b = values[j]!
        for k in i..<j { filled[k] = a + (b - a) * Float(k - i + 1) / Float(j - i + 1) }
        i = j
    }
    return WeeklySeries(dates: dates, values: filled, filled: values.map { $0 == nil })
}
