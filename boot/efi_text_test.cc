#include "immune/boot/efi_text.h"

#include <gtest/gtest.h>

#include "immune/core/hex.h"

namespace immune::boot {
namespace {

Bytes H(const char* hex) { return FromHex(hex).value(); }

TEST(EfiTextTest, Guid) {
  EXPECT_EQ(GuidToString(H("61dfe48bca93d211aa0d00e098032b8c")), "8be4df61-93ca-11d2-aa0d-00e098032b8c");
  EXPECT_EQ(GuidToString(H("0102")), "0102");
}

TEST(EfiTextTest, Utf16) {
  EXPECT_EQ(Utf16ToUtf8(H("530065006300")), "Sec");
  EXPECT_EQ(Utf16ToUtf8(H("41000000420000")), "A");           // stops at NUL
  EXPECT_EQ(Utf16ToUtf8(H("e900")), "\xc3\xa9");              // U+00E9
  EXPECT_EQ(Utf16ToUtf8(H("3dd800de")), "\xf0\x9f\x98\x80");  // surrogate pair U+1F600
  EXPECT_EQ(Utf16ToUtf8(H("00d84100")),
            "\xef\xbf\xbd"
            "A");                            // unpaired surrogate
  EXPECT_EQ(Utf16ToUtf8(H("410042")), "A");  // odd trailing byte ignored
}

TEST(EfiTextTest, Ascii) {
  EXPECT_EQ(AsciiToText(H("41420000")), "AB");
  EXPECT_EQ(AsciiToText(H("41ff42")), "A\\xffB");
  EXPECT_TRUE(IsPrintableAscii(H("414200")));
  EXPECT_FALSE(IsPrintableAscii(H("0000")));
  EXPECT_TRUE(LooksLikeUtf16(H("410042000000")));
  EXPECT_FALSE(LooksLikeUtf16(H("4142")));
  EXPECT_TRUE(LooksLikeUtf16(H("4100420000")));  // odd trailing NUL
  EXPECT_EQ(AsciiToText(H("41e79a8442")),
            "A\xe7\x9a\x84"
            "B");                                  // UTF-8 kept
  EXPECT_EQ(AsciiToText(H("41c328")), "A\\xc3(");  // invalid UTF-8 escaped
  EXPECT_TRUE(IsPrintableAscii(H("e79a84")));
  EXPECT_FALSE(IsPrintableAscii(H("c328")));
}

TEST(EfiTextTest, DevicePathCommonNodes) {
  // PciRoot(0x0)/Pci(0x1,0x1)/Sata(0x0,0xFFFF,0x0)/HD(1,GPT,...)/\EFI\BOOT\BOOTX64.EFI
  std::string hex =
      "02010c00d041030a00000000"  // ACPI PNP0A03 UID 0
      "01010600"
      "0101"  // PCI function 1 device 1
      "03120a00"
      "0000ffff0000"  // SATA
      "04012a00"
      "01000000"
      "0008000000000000"
      "0000100000000000"
      "61dfe48bca93d211aa0d00e098032b8c"
      "02"
      "02"         // HD GPT
      "04043000";  // file path: 44 bytes of UTF-16 follow
  const char* path = "\\EFI\\BOOT\\BOOTX64.EFI";
  std::string file;
  for (const char* p = path; *p; ++p) file += ToHex(Bytes{static_cast<std::uint8_t>(*p), 0});
  file += "0000";
  hex += file + "7fff0400";
  ASSERT_EQ(file.size(), 88u);  // 22 UTF-16 units, as the node length says
  EXPECT_EQ(DevicePathToText(H(hex.c_str())),
            "PciRoot(0x0)/Pci(0x1,0x1)/Sata(0x0,0xFFFF,0x0)/"
            "HD(1,GPT,8be4df61-93ca-11d2-aa0d-00e098032b8c,0x800,0x100000)/\\EFI\\BOOT\\BOOTX64.EFI");
}

TEST(EfiTextTest, DevicePathMessagingNodes) {
  EXPECT_EQ(DevicePathToText(H("03050600"
                               "0200"
                               "7fff0400")),
            "USB(0x2,0x0)");
  EXPECT_EQ(DevicePathToText(H("03020800"
                               "01000200")),
            "Scsi(0x1,0x2)");
  EXPECT_EQ(DevicePathToText(H("03171000"
                               "01000000"
                               "0123456789abcdef")),
            "NVMe(0x1,EF-CD-AB-89-67-45-23-01)");
  std::string mac =
      "030b2500"
      "525400123456" +
      std::string(52, '0') + "01";
  EXPECT_EQ(DevicePathToText(H(mac.c_str())), "MAC(525400123456,0x1)");
  EXPECT_EQ(DevicePathToText(H("030c1b00"
                               "0a000002"
                               "0a000001"
                               "0000"
                               "4500"
                               "1100"
                               "00"
                               "0a0000fe"
                               "ffffff00")),
            "IPv4(10.0.0.1,UDP,DHCP,10.0.0.2,10.0.0.254,255.255.255.0)");
  EXPECT_EQ(DevicePathToText(H("03180c00"
                               "687474703a2f2f78")),
            "Uri(http://x)");
  EXPECT_EQ(DevicePathToText(H("04061400"
                               "c9bdb87cebf8344faaea3ee4af6516a1")),
            "FvFile(7cb8bdc9-f8eb-4f34-aaea-3ee4af6516a1)");
}

TEST(EfiTextTest, DevicePathFallbacks) {
  EXPECT_EQ(DevicePathToText(H("09090600"
                               "abcd")),
            "Path(9,9,abcd)");
  // A node too short for its subtype is shown generically.
  EXPECT_EQ(DevicePathToText(H("01010500"
                               "01")),
            "Path(1,1,01)");
  // A node whose length runs past the end.
  EXPECT_EQ(DevicePathToText(H("01010600"
                               "0101"
                               "0101ff00")),
            "Pci(0x1,0x1)/<invalid node at byte 6>");
  EXPECT_EQ(DevicePathToText(H("01010200")), "<invalid node at byte 0>");
  // Two instances.
  EXPECT_EQ(DevicePathToText(H("01010600"
                               "0001"
                               "7f010400"
                               "01010600"
                               "0002"
                               "7fff0400")),
            "Pci(0x1,0x0),Pci(0x2,0x0)");
}

}  // namespace
}  // namespace immune::boot
