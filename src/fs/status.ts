// What `status` shows of a cluster: the president, each ministry's staff and progress, each
// node. The same view comes from the in-process Cluster API and from a network client.

export interface MinistryStatus {
  id: string;
  subtree: string;
  minister: string;
  clerks: string[];
  term: number;
  commitIndex: number;
  down: boolean;
  shortStaffed: boolean;
}

export interface NodeStatus {
  id: string;
  up: boolean;
  role: string;
  ministry: string;
  commit: number;
  applied: number;
  caughtUp: boolean;
}

export interface ClusterStatusView {
  president: string;
  clusterTerm: number;
  ministries: MinistryStatus[];
  idle: string[];
  nodes: NodeStatus[];
}
