// Reads every entry of a ZIP archive with java.util.zip and prints one line per entry:
//   <hex sha-256 of the entry's bytes>\t<size>\t<name>
// Usage: java ZipCheck <archive.zip> zipfile|stream
//   zipfile: java.util.zip.ZipFile (central directory, random access)
//   stream:  java.util.zip.ZipInputStream (local headers, front to back, as a download is read)
// Exits 1 with the exception on stderr when the archive cannot be read, 2 on bad usage.

import java.io.FileDescriptor;
import java.io.FileInputStream;
import java.io.FileOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.Enumeration;
import java.util.zip.ZipEntry;
import java.util.zip.ZipFile;
import java.util.zip.ZipInputStream;

public final class ZipCheck {
    private ZipCheck() {}

    public static void main(String[] args) {
        PrintStream out = new PrintStream(new FileOutputStream(FileDescriptor.out), false, StandardCharsets.UTF_8);
        PrintStream err = new PrintStream(new FileOutputStream(FileDescriptor.err), true, StandardCharsets.UTF_8);
        if (args.length != 2 || !(args[1].equals("zipfile") || args[1].equals("stream"))) {
            err.println("usage: java ZipCheck <archive.zip> zipfile|stream");
            System.exit(2);
        }
        try {
            if (args[1].equals("zipfile")) {
                readWithZipFile(args[0], out);
            } else {
                readWithZipInputStream(args[0], out);
            }
            out.flush();
        } catch (IOException | RuntimeException e) {
            out.flush();
            err.println(e.getClass().getName() + ": " + e.getMessage());
            System.exit(1);
        }
    }

    private static void readWithZipFile(String path, PrintStream out) throws IOException {
        try (ZipFile zip = new ZipFile(path, StandardCharsets.UTF_8)) {
            Enumeration<? extends ZipEntry> entries = zip.entries();
            while (entries.hasMoreElements()) {
                ZipEntry entry = entries.nextElement();
                try (InputStream in = zip.getInputStream(entry)) {
                    report(entry, in, out);
                }
            }
        }
    }

    private static void readWithZipInputStream(String path, PrintStream out) throws IOException {
        try (ZipInputStream zip = new ZipInputStream(new FileInputStream(path), StandardCharsets.UTF_8)) {
            ZipEntry entry;
            while ((entry = zip.getNextEntry()) != null) {
                report(entry, zip, out);
                zip.closeEntry();
            }
        }
    }

    private static void report(ZipEntry entry, InputStream in, PrintStream out) throws IOException {
        MessageDigest digest = sha256();
        byte[] buffer = new byte[64 * 1024];
        long size = 0;
        int read;
        while ((read = in.read(buffer)) != -1) {
            digest.update(buffer, 0, read);
            size += read;
        }
        out.println(hex(digest.digest()) + "\t" + size + "\t" + entry.getName());
    }

    private static MessageDigest sha256() {
        try {
            return MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    private static String hex(byte[] bytes) {
        StringBuilder text = new StringBuilder(bytes.length * 2);
        for (byte b : bytes) {
            text.append(String.format("%02x", b & 0xff));
        }
        return text.toString();
    }
}
