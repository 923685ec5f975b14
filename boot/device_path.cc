// EFI_DEVICE_PATH_PROTOCOL to UEFI text form, for the node types that appear
// in boot event logs. Unknown nodes fall back to Path(type,subtype,hex).
#include <cinttypes>
#include <cstdio>
#include <string>

#include "immune/boot/efi_text.h"
#include "immune/core/hex.h"

namespace immune::boot {
namespace {

std::string Hex(std::uint64_t v) {
  char buf[24];
  std::snprintf(buf, sizeof(buf), "0x%" PRIX64, v);
  return buf;
}

std::string Dec(std::uint64_t v) { return std::to_string(v); }

std::string Ipv4(ByteSpan b) { return Dec(b[0]) + "." + Dec(b[1]) + "." + Dec(b[2]) + "." + Dec(b[3]); }

std::string Ipv6(ByteSpan b) {
  std::string s;
  char buf[8];
  for (std::size_t i = 0; i < 16; i += 2) {
    if (i) s += ':';
    std::snprintf(buf, sizeof(buf), "%x", (b[i] << 8) | b[i + 1]);
    s += buf;
  }
  return s;
}

std::string Generic(std::uint8_t type, std::uint8_t subtype, ByteSpan body) {
  std::string s = "Path(" + Dec(type) + "," + Dec(subtype);
  if (!body.empty()) s += "," + ToHex(body);
  return s + ")";
}

// `body` is the node after its 4-byte header. Returns "" when the node is
// too short for its subtype (the caller then uses the generic form).
std::string HardwareNode(std::uint8_t sub, ByteReader& r) {
  switch (sub) {
    case 1: {  // PCI: function, device
      auto fn = r.U8();
      auto dev = r.U8();
      if (!fn || !dev) return "";
      return "Pci(" + Hex(*dev) + "," + Hex(*fn) + ")";
    }
    case 4: {  // Vendor
      auto guid = r.Take(16);
      if (!guid) return "";
      std::string s = "VenHw(" + GuidToString(*guid);
      if (!r.empty()) s += "," + ToHex(r.rest());
      return s + ")";
    }
    case 5: {  // Controller
      auto n = r.U32Le();
      if (!n) return "";
      return "Ctrl(" + Hex(*n) + ")";
    }
    default: return "";
  }
}

std::string AcpiHid(std::uint32_t hid) {
  if ((hid & 0xFFFF) == 0x41D0) {
    char buf[16];
    std::snprintf(buf, sizeof(buf), "PNP%04X", static_cast<unsigned>(hid >> 16));
    return buf;
  }
  return Hex(hid);
}

std::string AcpiNode(std::uint8_t sub, ByteReader& r) {
  switch (sub) {
    case 1: {
      auto hid = r.U32Le();
      auto uid = r.U32Le();
      if (!hid || !uid) return "";
      if (*hid == 0x0A0341D0) return "PciRoot(" + Hex(*uid) + ")";
      if (*hid == 0x0A0841D0) return "PcieRoot(" + Hex(*uid) + ")";
      return "Acpi(" + AcpiHid(*hid) + "," + Hex(*uid) + ")";
    }
    case 3: {
      auto adr = r.U32Le();
      if (!adr) return "";
      return "AcpiAdr(" + Hex(*adr) + ")";
    }
    default: return "";
  }
}

std::string MessagingNode(std::uint8_t sub, ByteReader& r) {
  switch (sub) {
    case 1: {  // ATAPI
      auto primary = r.U8();
      auto slave = r.U8();
      auto lun = r.U16Le();
      if (!primary || !slave || !lun) return "";
      return std::string("Ata(") + (*primary ? "Secondary" : "Primary") + "," +
             (*slave ? "Slave" : "Master") + "," + Hex(*lun) + ")";
    }
    case 2: {  // SCSI
      auto pun = r.U16Le();
      auto lun = r.U16Le();
      if (!pun || !lun) return "";
      return "Scsi(" + Hex(*pun) + "," + Hex(*lun) + ")";
    }
    case 5: {  // USB
      auto port = r.U8();
      auto intf = r.U8();
      if (!port || !intf) return "";
      return "USB(" + Hex(*port) + "," + Hex(*intf) + ")";
    }
    case 10: {  // Vendor
      auto guid = r.Take(16);
      if (!guid) return "";
      std::string s = "VenMsg(" + GuidToString(*guid);
      if (!r.empty()) s += "," + ToHex(r.rest());
      return s + ")";
    }
    case 11: {  // MAC
      auto mac = r.Take(32);
      auto if_type = r.U8();
      if (!mac || !if_type) return "";
      const std::size_t len = (*if_type == 0 || *if_type == 1) ? 6 : 32;
      return "MAC(" + ToHex(mac->first(len)) + "," + Hex(*if_type) + ")";
    }
    case 12: {  // IPv4
      auto local = r.Take(4);
      auto remote = r.Take(4);
      auto lport = r.U16Le();
      auto rport = r.U16Le();
      auto proto = r.U16Le();
      auto is_static = r.U8();
      if (!local || !remote || !lport || !rport || !proto || !is_static) return "";
      std::string s = "IPv4(" + Ipv4(*remote) + "," +
                      (*proto == 6    ? "TCP"
                       : *proto == 17 ? "UDP"
                                      : Dec(*proto)) +
                      "," + (*is_static ? "Static" : "DHCP") + "," + Ipv4(*local);
      auto gw = r.Take(4);
      auto mask = r.Take(4);
      if (gw && mask) s += "," + Ipv4(*gw) + "," + Ipv4(*mask);
      return s + ")";
    }
    case 13: {  // IPv6
      auto local = r.Take(16);
      auto remote = r.Take(16);
      auto lport = r.U16Le();
      auto rport = r.U16Le();
      auto proto = r.U16Le();
      auto origin = r.U8();
      if (!local || !remote || !lport || !rport || !proto || !origin) return "";
      static constexpr const char* kOrigin[] = {"Static", "StatelessAutoConfigure", "StatefulAutoConfigure"};
      std::string s = "IPv6(" + Ipv6(*remote) + "," +
                      (*proto == 6    ? "TCP"
                       : *proto == 17 ? "UDP"
                                      : Dec(*proto)) +
                      "," + (*origin < 3 ? kOrigin[*origin] : Dec(*origin)) + "," + Ipv6(*local);
      auto prefix = r.U8();
      auto gw = r.Take(16);
      if (prefix && gw) s += "," + Ipv6(*gw) + "," + Dec(*prefix);
      return s + ")";
    }
    case 18: {  // SATA
      auto port = r.U16Le();
      auto mult = r.U16Le();
      auto lun = r.U16Le();
      if (!port || !mult || !lun) return "";
      return "Sata(" + Hex(*port) + "," + Hex(*mult) + "," + Hex(*lun) + ")";
    }
    case 23: {  // NVMe namespace
      auto nsid = r.U32Le();
      auto eui = r.Take(8);
      if (!nsid || !eui) return "";
      std::string s = "NVMe(" + Hex(*nsid) + ",";
      char buf[4];
      for (std::size_t i = 0; i < 8; ++i) {
        std::snprintf(buf, sizeof(buf), "%02X", (*eui)[7 - i]);
        if (i) s += '-';
        s += buf;
      }
      return s + ")";
    }
    case 24:  // URI
      return "Uri(" + AsciiToText(r.rest()) + ")";
    default: return "";
  }
}

std::string MediaNode(std::uint8_t sub, ByteReader& r) {
  switch (sub) {
    case 1: {  // Hard drive
      auto part = r.U32Le();
      auto start = r.U64Le();
      auto size = r.U64Le();
      auto sig = r.Take(16);
      auto format = r.U8();
      auto sig_type = r.U8();
      if (!part || !start || !size || !sig || !format || !sig_type) return "";
      std::string s = "HD(" + Dec(*part) + ",";
      if (*sig_type == 2) {
        s += "GPT," + GuidToString(*sig);
      } else if (*sig_type == 1) {
        ByteReader sr(*sig);
        s += "MBR," + Hex(*sr.U32Le());
      } else {
        s += Dec(*sig_type) + "," + ToHex(*sig);
      }
      return s + "," + Hex(*start) + "," + Hex(*size) + ")";
    }
    case 2: {  // CD-ROM
      auto entry = r.U32Le();
      auto start = r.U64Le();
      auto size = r.U64Le();
      if (!entry || !start || !size) return "";
      return "CDROM(" + Hex(*entry) + "," + Hex(*start) + "," + Hex(*size) + ")";
    }
    case 3: {  // Vendor
      auto guid = r.Take(16);
      if (!guid) return "";
      std::string s = "VenMedia(" + GuidToString(*guid);
      if (!r.empty()) s += "," + ToHex(r.rest());
      return s + ")";
    }
    case 4:  // File path
      return Utf16ToUtf8(r.rest());
    case 5: {  // Media protocol
      auto guid = r.Take(16);
      if (!guid) return "";
      return "Media(" + GuidToString(*guid) + ")";
    }
    case 6: {  // PIWG firmware file
      auto guid = r.Take(16);
      if (!guid) return "";
      return "FvFile(" + GuidToString(*guid) + ")";
    }
    case 7: {  // PIWG firmware volume
      auto guid = r.Take(16);
      if (!guid) return "";
      return "Fv(" + GuidToString(*guid) + ")";
    }
    case 8: {  // Relative offset range
      if (!r.Skip(4)) return "";
      auto start = r.U64Le();
      auto end = r.U64Le();
      if (!start || !end) return "";
      return "Offset(" + Hex(*start) + "," + Hex(*end) + ")";
    }
    default: return "";
  }
}

}  // namespace

std::string DevicePathToText(ByteSpan bytes) {
  ByteReader r(bytes);
  std::string out;
  bool need_slash = false;
  while (!r.empty()) {
    const std::size_t node_offset = r.offset();
    auto type = r.U8();
    auto sub = r.U8();
    auto len = r.U16Le();
    if (!type || !sub || !len || *len < 4 || *len - 4u > r.remaining()) {
      out +=
          (need_slash ? "/" : "") + std::string("<invalid node at byte ") + std::to_string(node_offset) + ">";
      return out;
    }
    ByteSpan body = *r.Take(*len - 4u);
    if (*type == 0x7F) {
      if (*sub == 0xFF) break;  // end of the whole path
      out += ',';               // end of one instance
      need_slash = false;
      continue;
    }
    ByteReader nr(body);
    std::string text;
    switch (*type) {
      case 1: text = HardwareNode(*sub, nr); break;
      case 2: text = AcpiNode(*sub, nr); break;
      case 3: text = MessagingNode(*sub, nr); break;
      case 4: text = MediaNode(*sub, nr); break;
      case 5:
        if (*sub == 1 && body.size() >= 4) {
          ByteReader br(body);
          const std::uint16_t dev = *br.U16Le();
          const std::uint16_t flags = *br.U16Le();
          text = "BBS(" + Hex(dev) + "," + AsciiToText(br.rest()) + "," + Hex(flags) + ")";
        }
        break;
      default: break;
    }
    if (text.empty()) text = Generic(*type, *sub, body);
    if (need_slash) out += '/';
    out += text;
    need_slash = true;
  }
  return out;
}

}  // namespace immune::boot
