// A throw-away etcd cluster for tests and benchmarks: N members on
// 127.0.0.1 with free client and peer ports, data directories under a
// private temporary directory, started as child processes (the etcd binary
// from $IMMUNE_ETCD, else /usr/bin/etcd, else PATH) and stopped by PID:
// SIGTERM, then SIGKILL after 5 s. The destructor stops every member and
// removes the directory.
//
// Thread safety: one thread drives a cluster.
#ifndef IMMUNE_CHAIN_ETCD_TEST_CLUSTER_H_
#define IMMUNE_CHAIN_ETCD_TEST_CLUSTER_H_

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include "immune/core/error.h"

namespace immune::chain::testing {

class EtcdTestCluster {
 public:
  // The etcd binary, or "" when none is installed (tests then skip).
  static std::string FindEtcd();

  // Starts `members` members and waits (up to 30 s) until a write succeeds.
  static Result<std::unique_ptr<EtcdTestCluster>> Start(int members);
  ~EtcdTestCluster();
  EtcdTestCluster(const EtcdTestCluster&) = delete;
  EtcdTestCluster& operator=(const EtcdTestCluster&) = delete;

  int size() const { return static_cast<int>(members_.size()); }
  const std::string& client_url(int i) const { return members_[static_cast<std::size_t>(i)].client_url; }
  // "http://127.0.0.1:p1,http://127.0.0.1:p2,..."
  std::string ClientUrls() const;
  // "etcd:" + ClientUrls() + "?timeout_ms=...".
  std::string Location(int timeout_ms = 2000) const;

  void StopMember(int i);
  Status StartMember(int i);
  bool running(int i) const { return members_[static_cast<std::size_t>(i)].pid > 0; }
  // Waits until a linearizable write through any member succeeds.
  Status WaitForQuorum(int timeout_ms);

 private:
  struct Member {
    std::string name, client_url, peer_url, data_dir, log;
    pid_t pid = -1;
  };
  EtcdTestCluster() = default;

  std::string etcd_, dir_, initial_cluster_;
  std::vector<Member> members_;
};

}  // namespace immune::chain::testing

#endif  // IMMUNE_CHAIN_ETCD_TEST_CLUSTER_H_
