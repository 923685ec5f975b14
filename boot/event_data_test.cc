#include "immune/boot/event_data.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "immune/core/hex.h"
#include "testdata.h"
#include "yaml_expect.h"

namespace immune::boot {
namespace {

using nlohmann::json;
using ::testing::EndsWith;
using ::testing::HasSubstr;
using testing::ReadTestdata;
using ::testing::StartsWith;

EventLog Parse(const std::string& relative) {
  auto log = ParseEventLog(ReadTestdata(relative));
  EXPECT_TRUE(log.ok()) << relative;
  return log.ok() ? std::move(log).value() : EventLog{};
}

// The decoded data of every event of `type` whose variable name is `name`
// (or every event of the type when name is empty).
std::vector<json> Decoded(const EventLog& log, std::uint32_t type, const std::string& name = "") {
  std::vector<json> out;
  for (const Event& ev : log.events) {
    if (ev.type != type) continue;
    json d = DecodeEventData(ev);
    if (!name.empty() && d.value("variable_name", "") != name) continue;
    out.push_back(std::move(d));
  }
  return out;
}

TEST(EventDataTest, EveryEventOfEveryLogDecodesToValidJson) {
  for (const std::string& path : testing::AllEventLogs()) {
    SCOPED_TRACE(path);
    const EventLog log = Parse(path);
    for (const Event& ev : log.events) {
      const auto j = EventToJson(ev);
      std::string text;
      ASSERT_NO_THROW(text = j.dump()) << ev.index;
      ASSERT_FALSE(EventToText(ev).empty());
      // Only event types without a decoder give raw data without an error;
      // the known types of these real logs all decode.
      const json& data = j["data"];
      if (data.contains("error") && data.contains("raw")) {
        ADD_FAILURE() << path << " event " << ev.index << " " << EventTypeName(ev.type) << ": "
                      << data.dump();
      }
    }
  }
}

// What tpm2_eventlog decoded (an independent implementation) must match ours
// for the fields both decode: variable GUIDs and names, boot option
// descriptions, image load fields and firmware blobs.
TEST(EventDataTest, AgreesWithTpm2ToolsDecodedFields) {
  std::size_t compared = 0;
  for (const auto& c : testing::AllYamlCases()) {
    if (c.yaml.find("event-raw") != std::string::npos || c.yaml.find("-hex") != std::string::npos) continue;
    SCOPED_TRACE(c.yaml);
    const auto y = testing::ReadTpm2ToolsYaml(testing::TestdataPath(c.yaml));
    const EventLog log = Parse(c.log);
    ASSERT_GE(log.events.size(), y.events.size());
    for (std::size_t i = 0; i < y.events.size(); ++i) {
      SCOPED_TRACE("event " + std::to_string(i));
      const auto& f = y.events[i].fields;
      const json d = DecodeEventData(log.events[i]);
      auto check = [&](const char* theirs, const json& ours) {
        auto it = f.find(theirs);
        if (it == f.end()) return;
        ++compared;
        EXPECT_EQ(ours.is_string() ? ours.get<std::string>() : ours.dump(), it->second) << theirs;
      };
      check("VariableName", d.value("variable_guid", json()));
      check("UnicodeName", d.value("variable_name", json()));
      check("BlobBase", d.value("blob_base", json()));
      check("BlobLength", d.value("blob_length", json()));
      check("ImageLocationInMemory", d.value("image_location", json()));
      check("ImageLengthInMemory", d.value("image_length", json()));
      check("LengthOfDevicePath", d.value("device_path_length", json()));
      if (d.contains("value") && d["value"].is_object()) {
        check("VariableData.Description", d["value"].value("description", json()));
      }
    }
  }
  EXPECT_GT(compared, 500u);
}

TEST(EventDataTest, JsonShape) {
  const EventLog log = Parse("eventlogs/tpm2-tools/event-uefivar.bin");
  ASSERT_EQ(log.events.size(), 2u);
  const auto j = EventToJson(log.events[1]);
  EXPECT_EQ(j.dump(),
            R"({"index":1,"pcr":7,"type":"EV_EFI_VARIABLE_DRIVER_CONFIG",)"
            R"("digests":{"sha1":"d4fdd1f14d4041494deb8fc990c45343d2277d08",)"
            R"("sha256":"ccfc4bb32888a345bc8aeadaba552b627d99348c767681ab3141f5b01e40a40e"},)"
            R"("data":{"value":1,"variable_data":"01","variable_data_length":1,)"
            R"("variable_guid":"8be4df61-93ca-11d2-aa0d-00e098032b8c","variable_name":"SecureBoot"}})");
  EXPECT_EQ(EventToText(log.events[1]),
            "1 PCR7 EV_EFI_VARIABLE_DRIVER_CONFIG sha1:d4fdd1f14d4041494deb8fc990c45343d2277d08 "
            "sha256:ccfc4bb32888a345bc8aeadaba552b627d99348c767681ab3141f5b01e40a40e SecureBoot=1");
}

TEST(EventDataTest, SpecIdHeader) {
  const EventLog log = Parse("eventlogs/tpm2-tools/event-uefivar.bin");
  const json d = DecodeEventData(log.events[0]);
  EXPECT_EQ(d["signature"], "Spec ID Event03");
  EXPECT_EQ(d["spec_version_major"], 2);
  EXPECT_EQ(d["uintn_size"], 2);
  ASSERT_EQ(d["algorithms"].size(), 4u);
  EXPECT_EQ(d["algorithms"][3]["algorithm_id"], "sha512");
  EXPECT_EQ(d["algorithms"][3]["digest_size"], 64);
}

TEST(EventDataTest, SecureBootVariables) {
  const EventLog log = Parse("eventlogs/keylime/binary_bios_measurements-secureboot");
  const auto sb = Decoded(log, EV_EFI_VARIABLE_DRIVER_CONFIG, "SecureBoot");
  ASSERT_EQ(sb.size(), 1u);
  EXPECT_EQ(sb[0]["value"], 1);
  EXPECT_EQ(sb[0]["variable_guid"], "8be4df61-93ca-11d2-aa0d-00e098032b8c");

  const auto db = Decoded(log, EV_EFI_VARIABLE_DRIVER_CONFIG, "db");
  ASSERT_EQ(db.size(), 1u);
  ASSERT_TRUE(db[0]["value"].is_array());
  ASSERT_GE(db[0]["value"].size(), 1u);
  const json& list = db[0]["value"][0];
  EXPECT_EQ(list["signature_type_name"], "EFI_CERT_X509_GUID");
  const json& cert = list["signatures"][0];
  EXPECT_GT(cert["size"].get<int>(), 500);
  auto der = FromBase64(cert["x509"].get<std::string>());
  ASSERT_TRUE(der.ok());
  EXPECT_EQ((*der)[0], 0x30);  // a DER SEQUENCE
  EXPECT_EQ(der->size(), cert["size"].get<std::size_t>());

  const auto dbx = Decoded(log, EV_EFI_VARIABLE_DRIVER_CONFIG, "dbx");
  ASSERT_EQ(dbx.size(), 1u);
  bool saw_sha256 = false;
  for (const json& l : dbx[0]["value"]) {
    if (l.value("signature_type_name", "") != "EFI_CERT_SHA256_GUID") continue;
    saw_sha256 = true;
    EXPECT_EQ(l["signatures"][0]["sha256"].get<std::string>().size(), 64u);
    EXPECT_TRUE(l["signatures"][0].contains("owner"));
  }
  EXPECT_TRUE(saw_sha256);

  // An authority event: the db certificate that verified shim.
  const auto auth = Decoded(log, EV_EFI_VARIABLE_AUTHORITY);
  ASSERT_FALSE(auth.empty());
  EXPECT_EQ(auth[0]["variable_name"], "db");
  EXPECT_TRUE(auth[0]["value"].contains("x509"));
}

TEST(EventDataTest, BootOptionsAndBootOrder) {
  const EventLog log = Parse("eventlogs/tpm2-tools/event-sd-boot-fedora37.bin");
  const auto order = Decoded(log, EV_EFI_VARIABLE_BOOT, "BootOrder");
  ASSERT_EQ(order.size(), 1u);
  EXPECT_EQ(order[0]["value"], json::parse(R"(["0001","0002","0000","0003"])"));
  const auto boot1 = Decoded(log, EV_EFI_VARIABLE_BOOT, "Boot0001");
  ASSERT_EQ(boot1.size(), 1u);
  EXPECT_EQ(boot1[0]["value"]["description"], "Linux Boot Manager");
  EXPECT_EQ(
      boot1[0]["value"]["device_path"],
      "HD(1,GPT,3cb9643c-6c08-4fe5-852d-17e1ae701158,0x800,0x100000)/\\EFI\\systemd\\systemd-bootx64.efi");
  const auto boot0 = Decoded(log, EV_EFI_VARIABLE_BOOT, "Boot0000");
  ASSERT_EQ(boot0.size(), 1u);
  EXPECT_EQ(boot0[0]["value"]["device_path"],
            "Fv(7cb8bdc9-f8eb-4f34-aaea-3ee4af6516a1)/FvFile(462caa21-7614-4503-836e-8ab6f4662331)");
}

TEST(EventDataTest, ImageLoadDevicePath) {
  const EventLog log = Parse("eventlogs/keylime/mb_log.bin");
  const auto apps = Decoded(log, EV_EFI_BOOT_SERVICES_APPLICATION);
  ASSERT_GE(apps.size(), 2u);
  EXPECT_EQ(
      apps[0]["device_path"],
      "PciRoot(0x0)/Pci(0x2,0x3)/Pci(0x0,0x0)/HD(1,GPT,3e3df7cb-b19f-40e0-a583-5dbc9cc0ac6e,0x800,0x12C000)/"
      "\\EFI\\centos\\shimx64.efi");
  EXPECT_THAT(apps[1]["device_path"].get<std::string>(), EndsWith("\\EFI\\centos\\grubx64.efi"));
  EXPECT_THAT(apps[0]["image_location"].get<std::string>(), StartsWith("0x"));
  EXPECT_GT(apps[0]["image_length"].get<std::uint64_t>(), 0u);
}

TEST(EventDataTest, GrubStrings) {
  const EventLog log = Parse("eventlogs/keylime/mb_log.bin");
  bool saw_cmdline = false, saw_cmd = false;
  for (const json& d : Decoded(log, EV_IPL)) {
    if (d.contains("kernel_cmdline")) {
      saw_cmdline = true;
      EXPECT_THAT(d["string"].get<std::string>(), StartsWith("kernel_cmdline: "));
      EXPECT_THAT(d["kernel_cmdline"].get<std::string>(), HasSubstr("vmlinuz"));
    }
    if (d.contains("grub_cmd")) saw_cmd = true;
  }
  EXPECT_TRUE(saw_cmdline);
  EXPECT_TRUE(saw_cmd);
}

TEST(EventDataTest, SystemdBootUtf16CommandLine) {
  const EventLog log = Parse("eventlogs/tpm2-tools/event-sd-boot-fedora37.bin");
  const auto ipl = Decoded(log, EV_IPL);
  ASSERT_EQ(ipl.size(), 2u);
  EXPECT_EQ(ipl[0]["encoding"], "utf-16");
  EXPECT_THAT(ipl[0]["string"].get<std::string>(), HasSubstr("console=ttyS0 console=tty0 efi=debug"));
  const auto tags = Decoded(log, EV_EVENT_TAG);
  ASSERT_EQ(tags.size(), 1u);
  EXPECT_TRUE(tags[0].contains("tagged_event_id"));
}

TEST(EventDataTest, SeparatorsActionsBlobsAndGpt) {
  const EventLog log = Parse("eventlogs/uefi-eventlog/swtpm/swtpm_measurements.bin");
  const auto seps = Decoded(log, EV_SEPARATOR);
  ASSERT_FALSE(seps.empty());
  EXPECT_EQ(seps[0]["value"], "0x00000000");
  EXPECT_EQ(seps[0]["error"], false);
  const auto actions = Decoded(log, EV_EFI_ACTION);
  ASSERT_FALSE(actions.empty());
  EXPECT_EQ(actions.back()["string"], "Exit Boot Services Returned with Success");
  const auto blobs = Decoded(log, EV_EFI_PLATFORM_FIRMWARE_BLOB);
  ASSERT_FALSE(blobs.empty());
  EXPECT_EQ(blobs[0]["blob_base"], "0x820000");
  EXPECT_EQ(blobs[0]["blob_length"], "0xe0000");
  const auto gpt = Decoded(log, EV_EFI_GPT_EVENT);
  ASSERT_EQ(gpt.size(), 1u);
  EXPECT_EQ(gpt[0]["signature"], "EFI PART");
  ASSERT_GE(gpt[0]["partitions"].size(), 1u);
  EXPECT_EQ(gpt[0]["partitions"].size(), gpt[0]["number_of_partitions"].get<std::size_t>());
  EXPECT_TRUE(gpt[0]["partitions"][0].contains("partition_type_guid"));
}

TEST(EventDataTest, ErrorSeparator) {
  Event ev;
  ev.type = EV_SEPARATOR;
  ev.data = {0xFF, 0xFF, 0xFF, 0xFF};
  EXPECT_EQ(DecodeEventData(ev), json::parse(R"({"value":"0xffffffff","error":true})"));
}

TEST(EventDataTest, StartupLocalityEvent) {
  const EventLog log = Parse("eventlogs/keylime/binary_bios_measurements");
  bool seen = false;
  for (const json& d : Decoded(log, EV_NO_ACTION)) {
    if (d.value("signature", "") != "StartupLocality") continue;
    seen = true;
    EXPECT_EQ(d["startup_locality"], 3);
  }
  EXPECT_TRUE(seen);
}

TEST(EventDataTest, MalformedDataBecomesRawWithError) {
  Event ev;
  ev.data = {0x01, 0x02, 0x03};
  for (std::uint32_t type :
       {EV_EFI_VARIABLE_BOOT, EV_EFI_BOOT_SERVICES_APPLICATION, EV_SEPARATOR, EV_EFI_PLATFORM_FIRMWARE_BLOB,
        EV_EFI_GPT_EVENT, EV_EFI_HANDOFF_TABLES, EV_EVENT_TAG}) {
    ev.type = type;
    const json d = DecodeEventData(ev);
    EXPECT_EQ(d["raw"], "010203") << EventTypeName(type);
    EXPECT_TRUE(d["error"].is_string()) << EventTypeName(type);
  }
  // A variable whose name length runs past the end.
  ev.type = EV_EFI_VARIABLE_DRIVER_CONFIG;
  ev.data.assign(32, 0);
  ev.data[16] = 0xFF;
  EXPECT_THAT(DecodeEventData(ev)["error"].get<std::string>(), HasSubstr("UnicodeNameLength"));
  // Non-UTF-8 bytes in a string event are escaped, so the JSON dumps.
  ev.type = EV_IPL;
  ev.data = {'a', 0xC3, 0x28, 'b'};
  EXPECT_NO_THROW(EventToJson(ev).dump());
}

}  // namespace
}  // namespace immune::boot
