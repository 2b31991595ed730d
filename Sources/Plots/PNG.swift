import CPNG
import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

// libpng's simplified API (png_image_*) is used because the classic API reports errors by
// longjmp, which Swift cannot catch; the simplified API returns 0 and fills `message` instead.

/// Writes an 8-bit RGB image (row-major, top row first, 3 bytes per pixel) as a PNG.
///
/// The file appears atomically: it is written under a temporary name in the same folder and
/// renamed into place, so a reader never sees half a PNG.
///
/// Usage: `try writePNG(path: "out.png", width: 2, height: 1, rgb: [255, 0, 0, 0, 0, 255])`
public func writePNG(path: String, width: Int, height: Int, rgb: [UInt8]) throws {
    try writePNG(path: path, width: width, height: height, bytes: rgb,
                 channels: 3, format: UInt32(PNG_FORMAT_RGB))
}

/// Writes an 8-bit RGBA image (row-major, top row first, 4 bytes per pixel, straight alpha).
///
/// Usage: `try writePNG(path: "out.png", width: 1, height: 1, rgba: [255, 0, 0, 128])`
public func writePNG(path: String, width: Int, height: Int, rgba: [UInt8]) throws {
    try writePNG(path: path, width: width, height: height, bytes: rgba,
                 channels: 4, format: UInt32(PNG_FORMAT_RGB) | UInt32(PNG_FORMAT_FLAG_ALPHA))
}

/// Writes an 8-bit grayscale image (row-major, top row first, 1 byte per pixel).
///
/// Usage: `try writePNG(path: "mask.png", width: 2, height: 2, gray: [0, 255, 255, 0])`
public func writePNG(path: String, width: Int, height: Int, gray: [UInt8]) throws {
    try writePNG(path: path, width: width, height: height, bytes: gray,
                 channels: 1, format: UInt32(PNG_FORMAT_GRAY))
}

/// Reads any PNG libpng understands and returns it as 8-bit RGB, top row first.
///
/// Gray, palette and 16-bit images are converted; an alpha channel is composited onto white,
/// which is what a viewer would show on a white page.
///
/// Usage: `let (w, h, rgb) = try readPNG(path: "figures/loss.png")`
public func readPNG(path: String) throws -> (width: Int, height: Int, rgb: [UInt8]) {
    var image = png_image()
    image.version = UInt32(PNG_IMAGE_VERSION)
    guard png_image_begin_read_from_file(&image, path) != 0 else {
        let message = pngMessage(&image)
        png_image_free(&image)
        throw PlotError.png("cannot read \(path): \(message)")
    }
    image.format = UInt32(PNG_FORMAT_RGB)
    let width = Int(image.width), height = Int(image.height)
    var pixels = [UInt8](repeating: 255, count: width * height * 3)
    var white = png_color(red: 255, green: 255, blue: 255)
    let ok = pixels.withUnsafeMutableBytes { buffer in
        png_image_finish_read(&image, &white, buffer.baseAddress, Int32(width * 3), nil)
    }
    let message = pngMessage(&image)
    png_image_free(&image)
    guard ok != 0 else { throw PlotError.png("cannot decode \(path): \(message)") }
    return (width, height, pixels)
}

private func writePNG(path: String, width: Int, height: Int, bytes: [UInt8],
                      channels: Int, format: UInt32) throws {
    guard width > 0, height > 0 else {
        throw PlotError.invalidInput("PNG size must be positive, got \(width)x\(height)")
    }
    guard bytes.count == width * height * channels else {
        throw PlotError.invalidInput(
            "PNG \(width)x\(height) with \(channels) channel(s) needs \(width * height * channels) "
                + "bytes, got \(bytes.count)")
    }
    try ensureParentFolder(of: path)
    let temporary = temporaryPath(beside: path)
    var image = png_image()
    image.version = UInt32(PNG_IMAGE_VERSION)
    image.width = UInt32(width)
    image.height = UInt32(height)
    image.format = format
    let ok = bytes.withUnsafeBytes { buffer in
        png_image_write_to_file(&image, temporary, 0, buffer.baseAddress,
                                Int32(width * channels), nil)
    }
    let message = pngMessage(&image)
    png_image_free(&image)
    guard ok != 0 else {
        unlink(temporary)
        throw PlotError.png("cannot write \(path): \(message)")
    }
    try moveIntoPlace(temporary, path)
}

/// libpng keeps its error text in a fixed 64-byte C array inside the struct.
private func pngMessage(_ image: inout png_image) -> String {
    withUnsafeBytes(of: &image.message) { raw in
        let chars = raw.bindMemory(to: CChar.self)
        let end = chars.firstIndex(of: 0) ?? chars.count
        return String(decoding: raw.prefix(end), as: UTF8.self)
    }
}

// MARK: - Atomic file helpers shared by every writer in this module

/// A name in the same folder as `path`, so the final `rename` cannot cross file systems.
func temporaryPath(beside path: String) -> String {
    let url = URL(fileURLWithPath: path)
    let folder = url.deletingLastPathComponent().path
    let tag = "\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
    return folder + "/." + url.lastPathComponent + ".tmp-" + tag
}

/// POSIX `rename` replaces the destination in one step; readers see the old or the new file.
func moveIntoPlace(_ temporary: String, _ path: String) throws {
    guard rename(temporary, path) == 0 else {
        let why = String(cString: strerror(errno))
        unlink(temporary)
        throw PlotError.io("cannot move \(temporary) to \(path): \(why)")
    }
}

/// Writes text via a temporary file and `rename`, like the PNGs.
func writeTextAtomically(_ text: String, to path: String) throws {
    let temporary = temporaryPath(beside: path)
    do {
        try Data(text.utf8).write(to: URL(fileURLWithPath: temporary))
    } catch {
        throw PlotError.io("cannot write \(path): \(error.localizedDescription)")
    }
    try moveIntoPlace(temporary, path)
}

/// Creates the folder that will hold `path` if it does not exist yet.
func ensureParentFolder(of path: String) throws {
    let folder = URL(fileURLWithPath: path).deletingLastPathComponent()
    do {
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    } catch {
        throw PlotError.io("cannot create folder \(folder.path): \(error.localizedDescription)")
    }
}
