#include "immune/tsb/cpcr.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <nlohmann/json.hpp>

#include "immune/core/hex.h"
#include "immune/tsb/measurement_log.h"
#include "log_test_util.h"

namespace immune::tsb {
namespace {

using testing::CtEntry;
using testing::HostEntry;

TEST(CpcrTest, ExtendMathMatchesDefinition) {
  auto salt = NewPartitionSalt();
  ASSERT_TRUE(salt.ok());
  const std::vector<HashAlg> banks = {HashAlg::kSha256};
  auto st = PartitionState::Create("ctA", *salt, banks);
  ASSERT_TRUE(st.ok());
  const Bytes th1(32, 1), th2(32, 2);
  auto b1 = st->Extend({{HashAlg::kSha256, th1}}, 0, 3);
  auto b2 = st->Extend({{HashAlg::kSha256, th2}}, 0, 7);
  ASSERT_TRUE(b1.ok() && b2.ok());
  // cPCR = H(H(0 || th1) || th2)
  Bytes c = Bytes(32, 0);
  c = *ExtendDigest(HashAlg::kSha256, c, th1);
  c = *ExtendDigest(HashAlg::kSha256, c, th2);
  EXPECT_EQ(st->cpcr().at(HashAlg::kSha256), c);
  Bytes blind_in = *salt;
  blind_in.insert(blind_in.end(), {'c', 't', 'A'});
  const Bytes blind = *Hash(HashAlg::kSha256, blind_in);
  EXPECT_EQ(st->blind().at(HashAlg::kSha256), blind);
  // x = H(bind-tag || owner || state), state = H(state-tag || blind || cPCR)
  Bytes state_in(AsBytes("immune-cpcr-state-v1").begin(), AsBytes("immune-cpcr-state-v1").end());
  state_in.insert(state_in.end(), blind.begin(), blind.end());
  state_in.insert(state_in.end(), c.begin(), c.end());
  EXPECT_EQ(b2->state.at(HashAlg::kSha256), *Hash(HashAlg::kSha256, state_in));
  Bytes owner_in(AsBytes("immune-cpcr-owner-v1").begin(), AsBytes("immune-cpcr-owner-v1").end());
  owner_in.insert(owner_in.end(), blind.begin(), blind.end());
  owner_in.insert(owner_in.end(), {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 7});
  EXPECT_EQ(b2->owner.at(HashAlg::kSha256), *Hash(HashAlg::kSha256, owner_in));
  Bytes x_in(AsBytes("immune-cpcr-bind-v1").begin(), AsBytes("immune-cpcr-bind-v1").end());
  x_in.insert(x_in.end(), b2->owner.at(HashAlg::kSha256).begin(), b2->owner.at(HashAlg::kSha256).end());
  x_in.insert(x_in.end(), b2->state.at(HashAlg::kSha256).begin(), b2->state.at(HashAlg::kSha256).end());
  EXPECT_EQ(b2->x.at(HashAlg::kSha256), *Hash(HashAlg::kSha256, x_in));
}

TEST(CpcrTest, SaltsAreRandomAndBlindDependsOnSaltAndId) {
  auto s1 = NewPartitionSalt();
  auto s2 = NewPartitionSalt();
  EXPECT_NE(*s1, *s2);
  EXPECT_NE(*PartitionBlind(HashAlg::kSha256, *s1, "a"), *PartitionBlind(HashAlg::kSha256, *s2, "a"));
  EXPECT_NE(*PartitionBlind(HashAlg::kSha256, *s1, "a"), *PartitionBlind(HashAlg::kSha256, *s1, "b"));
}

// A log on a fake TPM with host, A and B entries interleaved.
class PartitionViewTest : public ::testing::Test {
 protected:
  void SetUp() override {
    tpm_ = tpm::NewFakeTpm();
    MeasurementLogOptions o;
    o.journal_path = dir_.File("journal.db");
    auto log = MeasurementLog::Open(o, *tpm_);
    ASSERT_TRUE(log.ok()) << log.error().ToString();
    log_ = std::move(log).value();
    ASSERT_TRUE(log_->Append(HostEntry("/usr/lib/systemd/systemd", 1)).ok());
    ASSERT_TRUE(log_->Append(CtEntry("ctA", "/usr/bin/python3", 0xa1)).ok());
    ASSERT_TRUE(log_->Append(CtEntry("ctB", "/srv/secret-b/payroll.py", 0xb1)).ok());
    ASSERT_TRUE(log_->Append(CtEntry("ctA", "/app/main.py", 0xa2)).ok());
    ASSERT_TRUE(log_->Append(CtEntry("ctB", "/usr/bin/python3", 0xb2)).ok());
    ASSERT_TRUE(log_->Append(CtEntry("ctA", "/app/worker.py", 0xa3)).ok());
    ASSERT_TRUE(log_->Append(HostEntry("/usr/bin/containerd", 2)).ok());
    ASSERT_TRUE(
        log_->AppendBatch({CtEntry("ctA", "/app/batch1", 0xa4), CtEntry("ctB", "/srv/secret-b/batch", 0xb3),
                           HostEntry("/usr/bin/runc", 3)})
            .ok());
    auto pcrs = tpm_->ReadPcrs({{HashAlg::kSha1, {13}}, {HashAlg::kSha256, {13}}});
    ASSERT_TRUE(pcrs.ok());
    pcrs_ = *pcrs;
  }
  PartitionView ViewOf(std::string_view id) {
    auto v = log_->ExportPartitionView(id);
    EXPECT_TRUE(v.ok());
    return *v;
  }

  testing::TempDir dir_;
  std::unique_ptr<tpm::Tpm> tpm_;
  std::unique_ptr<MeasurementLog> log_;
  PcrValues pcrs_;
};

TEST_F(PartitionViewTest, LogReplayEqualsTpm) {
  EXPECT_EQ(log_->ExpectedPcr().at(HashAlg::kSha256), pcrs_[HashAlg::kSha256][13]);
  EXPECT_EQ(log_->ExpectedPcr().at(HashAlg::kSha1), pcrs_[HashAlg::kSha1][13]);
}

TEST_F(PartitionViewTest, ViewOfEachPartitionVerifies) {
  for (const char* id : {"ctA", "ctB", ""}) {
    auto r = VerifyPartitionView(ViewOf(id), pcrs_);
    ASSERT_TRUE(r.ok()) << id << ": " << r.error().ToString();
    EXPECT_EQ(r->total_entries, 10u);
  }
  auto a = VerifyPartitionView(ViewOf("ctA"), pcrs_);
  ASSERT_EQ(a->entries.size(), 4u);
  EXPECT_EQ(a->entries[0].path, "/usr/bin/python3");
  EXPECT_EQ(a->entries[2].path, "/app/worker.py");
}

TEST_F(PartitionViewTest, SerializedViewRoundTripsAndVerifies) {
  auto parsed = PartitionViewFromJson(PartitionViewToJson(ViewOf("ctA")));
  ASSERT_TRUE(parsed.ok()) << parsed.error().ToString();
  EXPECT_TRUE(VerifyPartitionView(*parsed, pcrs_).ok());
}

TEST_F(PartitionViewTest, RemovedEntryFails) {
  PartitionView v = ViewOf("ctA");
  v.items.erase(v.items.begin() + 3);
  EXPECT_FALSE(VerifyPartitionView(v, pcrs_).ok());
  // Also with positions renumbered so they look contiguous.
  for (std::size_t i = 0; i < v.items.size(); ++i) v.items[i].position = i;
  EXPECT_FALSE(VerifyPartitionView(v, pcrs_).ok());
}

TEST_F(PartitionViewTest, AlteredEntryFails) {
  PartitionView v = ViewOf("ctA");
  v.items[3].entry->path = "/app/other.py";
  auto r = VerifyPartitionView(v, pcrs_);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message().find("replays"), std::string::npos) << r.error().message();
  PartitionView w = ViewOf("ctA");
  w.items[1].entry->file_digest[0] ^= 1;
  EXPECT_FALSE(VerifyPartitionView(w, pcrs_).ok());
  PartitionView d = ViewOf("ctA");
  d.items[5].entry->decision = Decision::kDeny;
  EXPECT_FALSE(VerifyPartitionView(d, pcrs_).ok());
}

TEST_F(PartitionViewTest, ReorderedEntriesFail) {
  PartitionView v = ViewOf("ctA");
  std::swap(v.items[1].entry, v.items[3].entry);
  EXPECT_FALSE(VerifyPartitionView(v, pcrs_).ok());
  PartitionView w = ViewOf("ctA");
  std::swap(w.items[1], w.items[2]);  // own entry and an opaque one, positions kept
  std::swap(w.items[1].position, w.items[2].position);
  EXPECT_FALSE(VerifyPartitionView(w, pcrs_).ok());
}

TEST_F(PartitionViewTest, ChangedOpaqueValueOfOtherContainerFails) {
  PartitionView v = ViewOf("ctA");
  ASSERT_FALSE(v.items[2].entry.has_value());
  v.items[2].state[HashAlg::kSha256][0] ^= 1;
  EXPECT_FALSE(VerifyPartitionView(v, pcrs_).ok());
  PartitionView w = ViewOf("ctA");
  w.items[4].owner[HashAlg::kSha1][5] ^= 0x80;
  EXPECT_FALSE(VerifyPartitionView(w, pcrs_).ok());
}

// The TSB cannot hide A's last entries by presenting them as opaque.
TEST_F(PartitionViewTest, OwnEntryPresentedAsOpaqueFails) {
  PartitionView a = ViewOf("ctA");
  PartitionView b = ViewOf("ctB");  // has A's owner/state at position 5
  a.items[5] = b.items[5];
  auto r = VerifyPartitionView(a, pcrs_);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message().find("hidden"), std::string::npos) << r.error().message();
}

TEST_F(PartitionViewTest, ChangedBatchBoundariesFail) {
  PartitionView v = ViewOf("ctA");
  v.items[8].batch += 1;  // splits the last batch
  EXPECT_FALSE(VerifyPartitionView(v, pcrs_).ok());
  PartitionView w = ViewOf("ctA");
  w.items[6].batch = w.items[7].batch;  // joins two extends
  EXPECT_FALSE(VerifyPartitionView(w, pcrs_).ok());
}

TEST_F(PartitionViewTest, ForgedSaltOrWrongPcrFails) {
  PartitionView v = ViewOf("ctA");
  v.salt[0] ^= 1;
  EXPECT_FALSE(VerifyPartitionView(v, pcrs_).ok());
  PcrValues other = pcrs_;
  other[HashAlg::kSha1][13][0] ^= 1;
  EXPECT_FALSE(VerifyPartitionView(ViewOf("ctA"), other).ok());
  PartitionView w = ViewOf("ctA");
  w.items.pop_back();  // truncated view
  EXPECT_FALSE(VerifyPartitionView(w, pcrs_).ok());
}

TEST_F(PartitionViewTest, ViewRevealsNothingOfOtherContainers) {
  const std::string json = PartitionViewToJson(ViewOf("ctA"));
  for (const std::string& needle :
       {std::string("ctB"), std::string("/srv/secret-b/payroll.py"), std::string("registry.example/app:ctB"),
        ToHex(Bytes(32, 0xb1)), ToHex(Bytes(32, 0xb2)), std::string("/usr/lib/systemd/systemd"),
        ToHex(Bytes(32, 1))}) {
    EXPECT_EQ(json.find(needle), std::string::npos) << needle;
  }
  // Neither the template hashes of B's entries.
  for (std::uint8_t fill : {0xb1, 0xb2}) {
    auto data = BuildTemplateData(
        CtEntry("ctB", fill == 0xb1 ? "/srv/secret-b/payroll.py" : "/usr/bin/python3", fill));
    for (HashAlg bank : {HashAlg::kSha1, HashAlg::kSha256}) {
      EXPECT_EQ(json.find(ToHex(*TemplateHash(bank, *data))), std::string::npos);
    }
  }
  // A's own data is there.
  EXPECT_NE(json.find("/app/main.py"), std::string::npos);
}

nlohmann::json Unbound(const std::string& text) {
  nlohmann::json j = nlohmann::json::parse(text);
  j.erase("writer");
  for (auto& item : j["items"]) {
    if (item.contains("entry")) {
      item["entry"].erase("time_ns");
      item["entry"].erase("seq");
    }
  }
  return j;
}

// Random byte changes of a valid view: parse and verify report errors, never
// crash, and never accept (the PCR values are fixed).
TEST_F(PartitionViewTest, MutatedViewsNeverCrashOrVerify) {
  const std::string good = PartitionViewToJson(ViewOf("ctA"));
  std::uint32_t seed = 12345;
  auto next = [&] {
    seed = seed * 1103515245u + 12345u;
    return seed >> 8;
  };
  int parsed = 0;
  for (int round = 0; round < 3000; ++round) {
    std::string text = good;
    const int flips = 1 + static_cast<int>(next() % 3);
    for (int f = 0; f < flips; ++f) {
      text[next() % text.size()] = static_cast<char>(next() & 0xff);
    }
    auto view = PartitionViewFromJson(text);
    if (!view.ok()) continue;
    ++parsed;
    auto r = VerifyPartitionView(*view, pcrs_);
    if (r.ok()) {
      // Only a change of what the PCR does not bind may verify: the writer
      // name, entries' time and sequence numbers (their positions are bound).
      EXPECT_TRUE(Unbound(PartitionViewToJson(*view)) == Unbound(good)) << "round " << round;
    }
  }
  EXPECT_GT(parsed, 0);
}

TEST(PartitionViewParseTest, MalformedJsonIsAnErrorNotACrash) {
  for (const char* text :
       {"", "{", "[]", "{\"format\":\"immune-partition-view-v1\"}",
        "{\"format\":\"immune-partition-view-v1\",\"writer\":\"w\",\"pcr\":99}",
        "{\"format\":\"immune-partition-view-v1\",\"writer\":\"w\",\"pcr\":13,\"epoch\":0,"
        "\"container_id\":\"a\",\"salt\":\"zz\",\"banks\":[],\"start_pcr\":{},\"items\":[]}"}) {
    EXPECT_FALSE(PartitionViewFromJson(text).ok()) << text;
  }
}

}  // namespace
}  // namespace immune::tsb
