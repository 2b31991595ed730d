/// An RGB pixel buffer with the few drawing operations the heatmap needs.
struct Canvas {
    let width: Int
    let height: Int
    var pixels: [UInt8]

    init(width: Int, height: Int, background: RGB) {
        self.width = width
        self.height = height
        pixels = [UInt8](repeating: 0, count: width * height * 3)
        fill(x: 0, y: 0, width: width, height: height, background)
    }

    func pixel(x: Int, y: Int) -> RGB {
        let i = (y * width + x) * 3
        return RGB(pixels[i], pixels[i + 1], pixels[i + 2])
    }

    /// Fills a rectangle; parts outside the canvas are ignored.
    mutating func fill(x: Int, y: Int, width w: Int, height h: Int, _ color: RGB) {
        let x0 = max(x, 0), y0 = max(y, 0)
        let x1 = min(x + w, width), y1 = min(y + h, height)
        guard x0 < x1, y0 < y1 else { return }
        for row in y0..<y1 {
            var i = (row * width + x0) * 3
            for _ in x0..<x1 {
                pixels[i] = color.r
                pixels[i + 1] = color.g
                pixels[i + 2] = color.b
                i += 3
            }
        }
    }

    /// A one-pixel outline just outside the rectangle, so it never covers the content.
    mutating func frame(x: Int, y: Int, width w: Int, height h: Int, _ color: RGB) {
        fill(x: x - 1, y: y - 1, width: w + 2, height: 1, color)
        fill(x: x - 1, y: y + h, width: w + 2, height: 1, color)
        fill(x: x - 1, y: y, width: 1, height: h, color)
        fill(x: x + w, y: y, width: 1, height: h, color)
    }

    /// Draws `text` with its top-left corner at (x, y), each font pixel `scale`×`scale`.
    mutating func text(_ text: String, x: Int, y: Int, scale: Int, _ color: RGB) {
        var penX = x
        for character in text {
            let rows = BitmapFont.glyph(character)
            for (gy, bits) in rows.enumerated() {
                for gx in 0..<BitmapFont.glyphWidth where bits & (1 << (BitmapFont.glyphWidth - 1 - gx)) != 0 {
                    fill(x: penX + gx * scale, y: y + gy * scale, width: scale, height: scale, color)
                }
            }
            penX += BitmapFont.advance * scale
        }
    }
}

/// A 5×7 bitmap font, so heatmap labels need no font files or text library.
///
/// It covers digits, upper-case letters (lower case is drawn as upper case) and the
/// punctuation numbers and short titles need; anything else is drawn as '?'.
enum BitmapFont {
    static let glyphWidth = 5
    static let glyphHeight = 7
    /// Glyph width plus one column of spacing.
    static let advance = 6

    /// Width in pixels of `text` at `scale`, without trailing spacing.
    static func width(of text: String, scale: Int) -> Int {
        text.isEmpty ? 0 : (text.count * advance - 1) * scale
    }

    /// The glyph's rows, top first; bit 4 is the leftmost column.
    static func glyph(_ character: Character) -> [UInt8] {
        // uppercased() can lengthen a character ("ß" → "SS"); the first letter is enough here.
        let key = character.uppercased().first ?? character
        return glyphs[key] ?? glyphs["?"]!
    }

    private static let glyphs: [Character: [UInt8]] = {
        var table = [Character: [UInt8]]()
        for (character, picture) in pictures {
            table[character] = picture.split(separator: " ").map { row in
                row.reduce(UInt8(0)) { ($0 << 1) | ($1 == "#" ? 1 : 0) }
            }
        }
        return table
    }()

    // Each glyph is seven rows of five columns; '#' is ink.
    private static let pictures: [(Character, String)] = [
        ("0", ".###. #...# #..## #.#.# ##..# #...# .###."),
        ("1", "..#.. .##.. ..#.. ..#.. ..#.. ..#.. .###."),
        ("2", ".###. #...# ....# ...#. ..#.. .#... #####"),
        ("3", "##### ...#. ..#.. ...#. ....# #...# .###."),
        ("4", "...#. ..##. .#.#. #..#. ##### ...#. ...#."),
        ("5", "##### #.... ####. ....# ....# #...# .###."),
        ("6", "..##. .#... #.... ####. #...# #...# .###."),
        ("7", "##### ....# ...#. ..#.. .#... .#... .#..."),
        ("8", ".###. #...# #...# .###. #...# #...# .###."),
        ("9", ".###. #...# #...# .#### ....# ...#. .##.."),
        ("A", ".###. #...# #...# ##### #...# #...# #...#"),
        ("B", "####. #...# #...# ####. #...# #...# ####."),
        ("C", ".###. #...# #.... #.... #.... #...# .###."),
        ("D", "###.. #..#. #...# #...# #...# #..#. ###.."),
        ("E", "##### #.... #.... ####. #.... #.... #####"),
        ("F", "##### #.... #.... ####. #.... #.... #...."),
        ("G", ".###. #...# #.... #.### #...# #...# .####"),
        ("H", "#...# #...# #...# ##### #...# #...# #...#"),
        ("I", ".###. ..#.. ..#.. ..#.. ..#.. ..#.. .###."),
        ("J", "..### ...#. ...#. ...#. ...#. #..#. .##.."),
        ("K", "#...# #..#. #.#.. ##... #.#.. #..#. #...#"),
        ("L", "#.... #.... #.... #.... #.... #.... #####"),
        ("M", "#...# ##.## #.#.# #.#.# #...# #...# #...#"),
        ("N", "#...# #...# ##..# #.#.# #..## #...# #...#"),
        ("O", ".###. #...# #...# #...# #...# #...# .###."),
        ("P", "####. #...# #...# ####. #.... #.... #...."),
        ("Q", ".###. #...# #...# #...# #.#.# #..#. .##.#"),
        ("R", "####. #...# #...# ####. #.#.. #..#. #...#"),
        ("S", ".#### #.... #.... .###. ....# ....# ####."),
        ("T", "##### ..#.. ..#.. ..#.. ..#.. ..#.. ..#.."),
        ("U", "#...# #...# #...# #...# #...# #...# .###."),
        ("V", "#...# #...# #...# #...# #...# .#.#. ..#.."),
        ("W", "#...# #...# #...# #.#.# #.#.# #.#.# .#.#."),
        ("X", "#...# #...# .#.#. ..#.. .#.#. #...# #...#"),
        ("Y", "#...# #...# .#.#. ..#.. ..#.. ..#.. ..#.."),
        ("Z", "##### ....# ...#. ..#.. .#... #.... #####"),
        (".", "..... ..... ..... ..... ..... .##.. .##.."),
        (",", "..... ..... ..... ..... .##.. ..#.. .#..."),
        ("-", "..... ..... ..... ##### ..... ..... ....."),
        ("+", "..... ..#.. ..#.. ##### ..#.. ..#.. ....."),
        (":", "..... .##.. .##.. ..... .##.. .##.. ....."),
        ("=", "..... ..... ##### ..... ##### ..... ....."),
        ("_", "..... ..... ..... ..... ..... ..... #####"),
        ("/", "..... ....# ...#. ..#.. .#... #.... ....."),
        ("(", "...#. ..#.. .#... .#... .#... ..#.. ...#."),
        (")", ".#... ..#.. ...#. ...#. ...#. ..#.. .#..."),
        ("[", ".###. .#... .#... .#... .#... .#... .###."),
        ("]", ".###. ...#. ...#. ...#. ...#. ...#. .###."),
        ("%", "##... ##..# ...#. ..#.. .#... #..## ...##"),
        ("'", "..#.. ..#.. .#... ..... ..... ..... ....."),
        ("?", ".###. #...# ....# ...#. ..#.. ..... ..#.."),
        (" ", "..... ..... ..... ..... ..... ..... ....."),
    ]
}
