import Foundation

/// A problem found by `JSON5Scanner`, with a 1-based position.
struct JSON5Issue: Error, Equatable {
    let line: Int
    let column: Int
    let message: String
}

/// A JSON5 grammar checker that only locates problems; it builds no values.
///
/// Foundation's `JSONDecoder` stays the parser (STYLE.md §4). It says nothing about where a
/// syntax error is, though, and keeps one of two duplicated keys silently; in a hand-edited
/// claims file both are common (a missing comma, a pasted claim). This scanner walks the same
/// grammar (comments, single-quoted strings, unquoted keys, trailing commas, hex, `Infinity`,
/// `NaN`) to point at the line. If it ever disagrees with Foundation, only the message
/// loses its position: `parseJSON5` trusts Foundation's accept/reject decision.
struct JSON5Scanner {
    private let bytes: [UInt8]
    private var index = 0
    private var line = 1
    private var lineStart = 0
    private var duplicate: JSON5Issue?

    private init(_ data: Data) { bytes = Array(data) }

    /// The first syntax error, or nil when the text is valid JSON5.
    static func firstSyntaxError(in data: Data) -> JSON5Issue? {
        var scanner = JSON5Scanner(data)
        do {
            try scanner.document()
            return nil
        } catch let issue as JSON5Issue {
            return issue
        } catch {
            return nil
        }
    }

    /// The first key repeated within one object.
    static func firstDuplicateKey(in data: Data) -> JSON5Issue? {
        var scanner = JSON5Scanner(data)
        try? scanner.document()
        return scanner.duplicate
    }

    // MARK: - Grammar

    private mutating func document() throws {
        if bytes.starts(with: [0xEF, 0xBB, 0xBF]) { index = 3; lineStart = 3 }
        try value()
        try skipTrivia()
        if index < bytes.count { throw issue("unexpected \(describeCurrent()) after the end of the document") }
    }

    private mutating func value() throws {
        try skipTrivia()
        guard let byte = current else { throw issue("unexpected end of file, expected a value") }
        switch byte {
        case UInt8(ascii: "{"): try object()
        case UInt8(ascii: "["): try array()
        case UInt8(ascii: "\""), UInt8(ascii: "'"): _ = try string()
        case UInt8(ascii: "-"), UInt8(ascii: "+"), UInt8(ascii: "."), UInt8(ascii: "0")...UInt8(ascii: "9"):
            try number()
        default:
            guard isIdentifierStart(byte) else { throw issue("unexpected \(describeCurrent()), expected a value") }
            let start = position
            let word = identifier()
            guard ["true", "false", "null", "Infinity", "NaN"].contains(word) else {
                throw issue("unexpected word '\(word)' (strings need quotes)", at: start)
            }
        }
    }

    private mutating func object() throws {
        let open = position
        index += 1
        var keys = Set<String>()
        while true {
            try skipTrivia()
            guard let byte = current else { throw issue("unexpected end of file: '{' is never closed", at: open) }
            if byte == UInt8(ascii: "}") { index += 1; return }
            let keyPosition = position
            let key: String
            if byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "'") {
                key = try string()
            } else if isIdentifierStart(byte) {
                key = identifier()
            } else {
                throw issue("unexpected \(describeCurrent()), expected a key or '}'")
            }
            if !keys.insert(key).inserted, duplicate == nil {
                duplicate = JSON5Issue(line: keyPosition.line, column: keyPosition.column,
                                       message: "duplicated key \"\(key)\" in the same object")
            }
            try skipTrivia()
            guard current == UInt8(ascii: ":") else {
                throw issue("expected ':' after key \"\(key)\", found \(describeCurrent())")
            }
            index += 1
            try value()
            try skipTrivia()
            switch current {
            case UInt8(ascii: ",")?: index += 1
            case UInt8(ascii: "}")?: index += 1; return
            case nil: throw issue("unexpected end of file: '{' is never closed", at: open)
            default: throw issue("expected ',' or '}' after the value of \"\(key)\", found \(describeCurrent())")
            }
        }
    }

    private mutating func array() throws {
        let open = position
        index += 1
        while true {
            try skipTrivia()
            guard let byte = current else { throw issue("unexpected end of file: '[' is never closed", at: open) }
            if byte == UInt8(ascii: "]") { index += 1; return }
            try value()
            try skipTrivia()
            switch current {
            case UInt8(ascii: ",")?: index += 1
            case UInt8(ascii: "]")?: index += 1; return
            case nil: throw issue("unexpected end of file: '[' is never closed", at: open)
            default: throw issue("expected ',' or ']' in array, found \(describeCurrent())")
            }
        }
    }

    /// Returns the raw text between the quotes (escapes left as written: enough to compare keys).
    private mutating func string() throws -> String {
        let start = position
        let quote = bytes[index]
        index += 1
        let contentStart = index
        while true {
            guard let byte = current, byte != UInt8(ascii: "\n"), byte != UInt8(ascii: "\r") else {
                throw issue("unterminated string", at: start)
            }
            if byte == quote {
                let text = String(decoding: bytes[contentStart..<index], as: UTF8.self)
                index += 1
                return text
            }
            if byte == UInt8(ascii: "\\") {
                index += 1
                // A backslash before a line break continues the string on the next line.
                if current == UInt8(ascii: "\r") || current == UInt8(ascii: "\n") {
                    newline()
                    continue
                }
            }
            index += 1
        }
    }

    private mutating func number() throws {
        let start = position
        if current == UInt8(ascii: "+") || current == UInt8(ascii: "-") { index += 1 }
        if let byte = current, isIdentifierStart(byte) {
            let word = identifier()
            guard word == "Infinity" || word == "NaN" else { throw issue("malformed number", at: start) }
            return
        }
        if current == UInt8(ascii: "0"), let next = peek(1), next == UInt8(ascii: "x") || next == UInt8(ascii: "X") {
            index += 2
            let digits = consume(while: { isHexDigit($0) })
            guard digits > 0 else { throw issue("malformed hexadecimal number", at: start) }
        } else {
            var digits = consume(while: isDigit)
            if current == UInt8(ascii: ".") {
                index += 1
                digits += consume(while: isDigit)
            }
            guard digits > 0 else { throw issue("malformed number", at: start) }
            if current == UInt8(ascii: "e") || current == UInt8(ascii: "E") {
                index += 1
                if current == UInt8(ascii: "+") || current == UInt8(ascii: "-") { index += 1 }
                guard consume(while: isDigit) > 0 else { throw issue("malformed exponent", at: start) }
            }
        }
        if let byte = current, isIdentifierPart(byte) || byte == UInt8(ascii: ".") {
            throw issue("malformed number", at: start)
        }
    }

    // MARK: - Trivia: whitespace and comments

    private mutating func skipTrivia() throws {
        while let byte = current {
            switch byte {
            case UInt8(ascii: "\n"), UInt8(ascii: "\r"):
                newline()
            case UInt8(ascii: " "), UInt8(ascii: "\t"), 0x0B, 0x0C:
                index += 1
            case 0xC2 where peek(1) == 0xA0:  // no-break space
                index += 2
            case 0xE2 where peek(1) == 0x80 && (peek(2) == 0xA8 || peek(2) == 0xA9):  // U+2028/9
                index += 3
                line += 1
                lineStart = index
            case 0xEF where peek(1) == 0xBB && peek(2) == 0xBF:  // byte-order mark
                index += 3
            case UInt8(ascii: "/") where peek(1) == UInt8(ascii: "/"):
                while let next = current, next != UInt8(ascii: "\n"), next != UInt8(ascii: "\r") { index += 1 }
            case UInt8(ascii: "/") where peek(1) == UInt8(ascii: "*"):
                let start = position
                index += 2
                while true {
                    guard let next = current else { throw issue("unterminated /* comment", at: start) }
                    if next == UInt8(ascii: "*") && peek(1) == UInt8(ascii: "/") { index += 2; break }
                    if next == UInt8(ascii: "\n") || next == UInt8(ascii: "\r") { newline() } else { index += 1 }
                }
            default:
                return
            }
        }
    }

    // MARK: - Low-level

    private var current: UInt8? { index < bytes.count ? bytes[index] : nil }
    private func peek(_ offset: Int) -> UInt8? { index + offset < bytes.count ? bytes[index + offset] : nil }

    /// Consumes one line break, counting `\r\n` once.
    private mutating func newline() {
        if current == UInt8(ascii: "\r") && peek(1) == UInt8(ascii: "\n") { index += 1 }
        index += 1
        line += 1
        lineStart = index
    }

    private mutating func consume(while predicate: (UInt8) -> Bool) -> Int {
        let start = index
        while let byte = current, predicate(byte) { index += 1 }
        return index - start
    }

    private mutating func identifier() -> String {
        let start = index
        while let byte = current, isIdentifierPart(byte) { index += 1 }
        return String(decoding: bytes[start..<index], as: UTF8.self)
    }

    private var position: (line: Int, column: Int) {
        // Columns count characters, not bytes: skip UTF-8 continuation bytes.
        let column = bytes[lineStart..<min(index, bytes.count)].filter { $0 & 0xC0 != 0x80 }.count + 1
        return (line, column)
    }

    private func issue(_ message: String, at where: (line: Int, column: Int)? = nil) -> JSON5Issue {
        let spot = `where` ?? position
        return JSON5Issue(line: spot.line, column: spot.column, message: message)
    }

    private func describeCurrent() -> String {
        guard let byte = current else { return "end of file" }
        if byte < 0x80, let scalar = Unicode.Scalar(UInt32(byte)).map(Character.init), !scalar.isWhitespace {
            if isIdentifierStart(byte) {
                var end = index
                while end < bytes.count, isIdentifierPart(bytes[end]) { end += 1 }
                return "'\(String(decoding: bytes[index..<end], as: UTF8.self))'"
            }
            return "'\(scalar)'"
        }
        return "byte 0x\(String(byte, radix: 16))"
    }
}

private func isDigit(_ byte: UInt8) -> Bool { byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") }

private func isHexDigit(_ byte: UInt8) -> Bool {
    isDigit(byte) || (byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "f"))
        || (byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "F"))
}

/// ECMAScript identifiers, approximated: any non-ASCII byte counts as a letter.
private func isIdentifierStart(_ byte: UInt8) -> Bool {
    (byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "z")) || (byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z"))
        || byte == UInt8(ascii: "_") || byte == UInt8(ascii: "$") || byte >= 0x80
}

private func isIdentifierPart(_ byte: UInt8) -> Bool { isIdentifierStart(byte) || isDigit(byte) }
