/**
 * Network objects as the Docker Engine API (v1.41) shapes them: the body of `POST /networks/create`,
 * the answer of `GET /networks/{id}`, the filters of `GET /networks`.
 */

export interface NetworkIpamConfig {
  readonly Subnet?: string;
  readonly Gateway?: string;
  readonly IPRange?: string;
}

export interface NetworkCreateOptions {
  readonly Name: string;
  /** Only `bridge` (the default). */
  readonly Driver?: string;
  /** No outbound traffic: no default route, forwarding to and from outside dropped. */
  readonly Internal?: boolean;
  readonly Attachable?: boolean;
  /** Refused: the embedded networks are IPv4-only. */
  readonly EnableIPv6?: boolean;
  /** Accepted for compatibility; names are always unique. */
  readonly CheckDuplicate?: boolean;
  readonly Labels?: Readonly<Record<string, string>> | null;
  /** Kept as given; `com.docker.network.driver.mtu` sets the endpoints' MTU. */
  readonly Options?: Readonly<Record<string, string>> | null;
  readonly IPAM?: {
    readonly Driver?: string;
    /** At most one IPv4 entry; default: the next free /24 of the engine's subnet pool. */
    readonly Config?: readonly NetworkIpamConfig[] | null;
    readonly Options?: Readonly<Record<string, string>> | null;
  } | null;
}

export interface NetworkCreateResult {
  Id: string;
  Warning: string;
}

export interface NetworkContainer {
  Name: string;
  EndpointID: string;
  MacAddress: string;
  /** `10.213.0.2/24`. */
  IPv4Address: string;
  IPv6Address: string;
}

export interface NetworkInspect {
  Name: string;
  /** 64 hex digits. */
  Id: string;
  Created: string;
  Scope: "local";
  Driver: string;
  EnableIPv6: boolean;
  IPAM: {
    Driver: string;
    Options: Record<string, string>;
    Config: { Subnet: string; Gateway: string; IPRange?: string }[];
  };
  Internal: boolean;
  Attachable: boolean;
  Ingress: boolean;
  ConfigFrom: { Network: string };
  ConfigOnly: boolean;
  Containers: Record<string, NetworkContainer>;
  Options: Record<string, string>;
  Labels: Record<string, string>;
}

/** Docker's network filters: `name` (substring), `id` (prefix), `label` (`k` or `k=v`), `driver`, `type` (`custom`/`builtin`), `scope`, `dangling`. */
export type NetworkFilters = Readonly<Record<string, readonly string[]>>;

export interface NetworkPruneResult {
  NetworksDeleted: string[];
}
