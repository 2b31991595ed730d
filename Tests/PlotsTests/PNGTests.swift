import Foundation
import Testing
@testable import Plots

@Suite("PNG via libpng")
struct PNGTests {
    @Test("RGB round trip is exact")
    func rgbRoundTrip() throws {
        let folder = try makeScratchFolder()
        defer { removeFolder(folder) }
        let width = 7, height = 5
        let rgb = (0..<(width * height * 3)).map { UInt8(($0 * 37 + 11) % 256) }
        try writePNG(path: folder + "/rgb.png", width: width, height: height, rgb: rgb)
        let back = try readPNG(path: folder + "/rgb.png")
        #expect(back.width == width && back.height == height)
        #expect(back.rgb == rgb)
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder) == ["rgb.png"])
    }

    @Test("gray and opaque RGBA read back as the same RGB")
    func grayAndRGBA() throws {
        let folder = try makeScratchFolder()
        defer { removeFolder(folder) }
        let gray: [UInt8] = [0, 64, 128, 255]
        try writePNG(path: folder + "/g.png", width: 2, height: 2, gray: gray)
        #expect(try readPNG(path: folder + "/g.png").rgb == gray.flatMap { [$0, $0, $0] })

        let rgba: [UInt8] = [255, 0, 0, 255, 0, 255, 0, 255, 0, 0, 255, 255, 9, 8, 7, 255]
        try writePNG(path: folder + "/c.png", width: 4, height: 1, rgba: rgba)
        let back = try readPNG(path: folder + "/c.png")
        #expect(back.width == 4 && back.height == 1)
        #expect(back.rgb == [255, 0, 0, 0, 255, 0, 0, 0, 255, 9, 8, 7])
    }

    @Test("transparent pixels read back composited on white")
    func alphaOnWhite() throws {
        let folder = try makeScratchFolder()
        defer { removeFolder(folder) }
        try writePNG(path: folder + "/t.png", width: 1, height: 1, rgba: [0, 0, 0, 0])
        #expect(try readPNG(path: folder + "/t.png").rgb == [255, 255, 255])
    }

    @Test("writePNG creates missing folders and overwrites in place")
    func createsFoldersAndOverwrites() throws {
        let folder = try makeScratchFolder()
        defer { removeFolder(folder) }
        let path = folder + "/a/b/x.png"
        try writePNG(path: path, width: 1, height: 1, rgb: [1, 2, 3])
        try writePNG(path: path, width: 1, height: 1, rgb: [4, 5, 6])
        #expect(try readPNG(path: path).rgb == [4, 5, 6])
    }

    @Test("wrong byte counts, empty images and unreadable files throw PlotError")
    func errors() throws {
        let folder = try makeScratchFolder()
        defer { removeFolder(folder) }
        #expect(throws: PlotError.self) { try writePNG(path: folder + "/a.png", width: 2, height: 2, rgb: [0, 0, 0]) }
        #expect(throws: PlotError.self) { try writePNG(path: folder + "/b.png", width: 0, height: 2, rgb: []) }
        #expect(throws: PlotError.self) { try readPNG(path: folder + "/missing.png") }
        try Data("not a png".utf8).write(to: URL(fileURLWithPath: folder + "/junk.png"))
        do {
            _ = try readPNG(path: folder + "/junk.png")
            Issue.record("junk decoded")
        } catch let PlotError.png(message) {
            #expect(message.contains("junk.png"))
        }
    }
}
