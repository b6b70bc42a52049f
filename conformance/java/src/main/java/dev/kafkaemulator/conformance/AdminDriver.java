package dev.kafkaemulator.conformance;

import java.io.BufferedReader;
import java.io.FileReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.ArrayList;
import java.util.Base64;
import java.util.EnumSet;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.concurrent.ExecutionException;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.CreateDelegationTokenOptions;
import org.apache.kafka.clients.admin.DescribeDelegationTokenOptions;
import org.apache.kafka.clients.admin.ExpireDelegationTokenOptions;
import org.apache.kafka.clients.admin.ListConfigResourcesOptions;
import org.apache.kafka.clients.admin.QuorumInfo;
import org.apache.kafka.clients.admin.RaftVoterEndpoint;
import org.apache.kafka.clients.admin.RenewDelegationTokenOptions;
import org.apache.kafka.common.Node;
import org.apache.kafka.common.TopicPartitionReplica;
import org.apache.kafka.common.Uuid;
import org.apache.kafka.common.config.ConfigResource;
import org.apache.kafka.common.security.auth.KafkaPrincipal;
import org.apache.kafka.common.security.token.delegation.DelegationToken;
import org.apache.kafka.common.security.token.delegation.TokenInformation;

/**
 * Runs Admin calls that kafkajs has no API for (DescribeQuorum, ListConfigResources,
 * UnregisterBroker, AlterReplicaLogDirs, Add/RemoveRaftVoter, the delegation token APIs) and
 * prints one JSON line per command: {"ok":true,...} or {"ok":false,"type":"...","message":"..."}
 * with the client's exception. Without commands on the command line, reads them from stdin, one
 * a line, until it closes.
 *
 * <pre>
 * AdminDriver BOOTSTRAP PROPERTIES_FILE|- [COMMAND...]
 *   login:PROPERTIES_FILE|-                (a new Admin client, with these properties)
 *   describeQuorum
 *   listConfigResources[:TYPE,TYPE...]     (no types: every type; "clientMetrics": the v0 call)
 *   unregisterBroker:ID
 *   logDirs:BROKER                         (the broker's log dir paths)
 *   alterReplicaLogDirs:TOPIC:PARTITION:BROKER:DIR
 *   addRaftVoter:ID  removeRaftVoter:ID
 *   createToken[:MAX_LIFETIME_MS[:RENEWER,RENEWER...]]
 *   renewToken:PERIOD_MS[:HMAC]  expireToken:PERIOD_MS[:HMAC]
 *                                          (HMAC in base64; without it, the last created token's)
 *   describeTokens[:OWNER,OWNER...]
 * </pre>
 */
public final class AdminDriver {
    private static byte[] lastHmac = new byte[0];

    public static void main(String[] args) throws Exception {
        String bootstrap = args[0];
        Admin admin = connect(bootstrap, args[1]);
        Iterable<String> commands = args.length > 2
                ? Arrays.asList(args).subList(2, args.length)
                : new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8)).lines()::iterator;
        for (String command : commands) {
            if (command.isBlank()) continue;
            try {
                if (command.startsWith("login:")) {
                    admin.close();
                    admin = connect(bootstrap, command.substring("login:".length()));
                    System.out.println("{\"ok\":true}");
                } else {
                    System.out.println("{\"ok\":true," + run(admin, command.split(":", -1)) + "}");
                }
            } catch (Exception e) {
                Throwable cause = e;
                while (cause instanceof ExecutionException && cause.getCause() != null) {
                    cause = cause.getCause();
                }
                if (System.getenv("DRIVER_TRACE") != null) e.printStackTrace();
                System.out.println("{\"ok\":false,\"type\":" + str(cause.getClass().getSimpleName())
                        + ",\"message\":" + str(String.valueOf(cause.getMessage())) + "}");
            }
            System.out.flush();
        }
        admin.close();
        System.exit(0);
    }

    /** An Admin client for `bootstrap` with the properties in `file` ("-": none). */
    private static Admin connect(String bootstrap, String file) throws Exception {
        Properties p = new Properties();
        if (!file.equals("-")) {
            try (FileReader reader = new FileReader(file)) {
                p.load(reader);
            }
        }
        p.put("bootstrap.servers", bootstrap);
        p.put("request.timeout.ms", "10000");
        p.put("default.api.timeout.ms", "15000");
        return Admin.create(p);
    }

    private static String run(Admin admin, String[] cmd) throws Exception {
        switch (cmd[0]) {
            case "describeQuorum":
                return quorum(admin.describeMetadataQuorum().quorumInfo().get());
            case "listConfigResources": {
                java.util.Collection<ConfigResource> found;
                if (cmd.length > 1 && cmd[1].equals("clientMetrics")) {
                    @SuppressWarnings("deprecation")
                    var listed = admin.listClientMetricsResources().all().get();
                    List<String> names = new ArrayList<>();
                    for (var r : listed) names.add(str(r.name()));
                    return "\"resources\":[" + String.join(",", names) + "]";
                }
                Set<ConfigResource.Type> types = EnumSet.noneOf(ConfigResource.Type.class);
                if (cmd.length > 1 && !cmd[1].isEmpty()) {
                    for (String t : cmd[1].split(",")) types.add(ConfigResource.Type.valueOf(t));
                }
                found = admin.listConfigResources(types, new ListConfigResourcesOptions()).all().get();
                List<String> out = new ArrayList<>();
                for (ConfigResource r : found) {
                    out.add("{\"type\":" + str(r.type().name()) + ",\"name\":" + str(r.name()) + "}");
                }
                return "\"resources\":[" + String.join(",", out) + "]";
            }
            case "unregisterBroker":
                admin.unregisterBroker(Integer.parseInt(cmd[1])).all().get();
                return "\"unregistered\":" + cmd[1];
            case "logDirs": {
                int broker = Integer.parseInt(cmd[1]);
                List<String> dirs = new ArrayList<>();
                for (String dir : admin.describeLogDirs(List.of(broker)).allDescriptions().get().get(broker).keySet()) {
                    dirs.add(str(dir));
                }
                return "\"dirs\":[" + String.join(",", dirs) + "]";
            }
            case "alterReplicaLogDirs": {
                TopicPartitionReplica replica = new TopicPartitionReplica(cmd[1],
                        Integer.parseInt(cmd[2]), Integer.parseInt(cmd[3]));
                admin.alterReplicaLogDirs(Map.of(replica, cmd[4])).all().get();
                return "\"moved\":" + str(replica.toString());
            }
            case "addRaftVoter":
                admin.addRaftVoter(Integer.parseInt(cmd[1]), Uuid.randomUuid(),
                        Set.of(new RaftVoterEndpoint("CONTROLLER", "127.0.0.1", 9999))).all().get();
                return "\"added\":" + cmd[1];
            case "removeRaftVoter":
                admin.removeRaftVoter(Integer.parseInt(cmd[1]), Uuid.randomUuid()).all().get();
                return "\"removed\":" + cmd[1];
            case "createToken": {
                CreateDelegationTokenOptions options = new CreateDelegationTokenOptions();
                if (cmd.length > 1 && !cmd[1].isEmpty()) options.maxLifetimeMs(Long.parseLong(cmd[1]));
                if (cmd.length > 2 && !cmd[2].isEmpty()) options.renewers(principals(cmd[2]));
                DelegationToken token = admin.createDelegationToken(options).delegationToken().get();
                lastHmac = token.hmac();
                return token(token);
            }
            case "renewToken": {
                long expiry = admin.renewDelegationToken(hmac(cmd),
                        new RenewDelegationTokenOptions().renewTimePeriodMs(Long.parseLong(cmd[1])))
                        .expiryTimestamp().get();
                return "\"expiryTimestamp\":" + expiry;
            }
            case "expireToken": {
                long expiry = admin.expireDelegationToken(hmac(cmd),
                        new ExpireDelegationTokenOptions().expiryTimePeriodMs(Long.parseLong(cmd[1])))
                        .expiryTimestamp().get();
                return "\"expiryTimestamp\":" + expiry;
            }
            case "describeTokens": {
                DescribeDelegationTokenOptions options = new DescribeDelegationTokenOptions();
                if (cmd.length > 1 && !cmd[1].isEmpty()) options.owners(principals(cmd[1]));
                List<String> out = new ArrayList<>();
                for (DelegationToken t : admin.describeDelegationToken(options).delegationTokens().get()) {
                    out.add("{" + token(t) + "}");
                }
                return "\"tokens\":[" + String.join(",", out) + "]";
            }
            default:
                throw new IllegalArgumentException("unknown command " + cmd[0]);
        }
    }

    private static byte[] hmac(String[] cmd) {
        return cmd.length > 2 ? Base64.getDecoder().decode(cmd[2]) : lastHmac;
    }

    /** "alice,bob": User principals. */
    private static List<KafkaPrincipal> principals(String list) {
        List<KafkaPrincipal> out = new ArrayList<>();
        for (String name : list.split(",")) out.add(new KafkaPrincipal(KafkaPrincipal.USER_TYPE, name));
        return out;
    }

    private static String token(DelegationToken token) {
        TokenInformation info = token.tokenInfo();
        List<String> renewers = new ArrayList<>();
        for (KafkaPrincipal r : info.renewers()) renewers.add(str(r.toString()));
        return "\"tokenId\":" + str(info.tokenId()) + ",\"hmac\":" + str(Base64.getEncoder().encodeToString(token.hmac()))
                + ",\"owner\":" + str(info.owner().toString()) + ",\"requester\":" + str(info.tokenRequester().toString())
                + ",\"renewers\":[" + String.join(",", renewers) + "],\"issueTimestamp\":" + info.issueTimestamp()
                + ",\"expiryTimestamp\":" + info.expiryTimestamp() + ",\"maxTimestamp\":" + info.maxTimestamp();
    }

    private static String quorum(QuorumInfo q) {
        return "\"leaderId\":" + q.leaderId() + ",\"leaderEpoch\":" + q.leaderEpoch() + ",\"highWatermark\":"
                + q.highWatermark() + ",\"voters\":" + replicas(q.voters()) + ",\"observers\":" + replicas(q.observers())
                + ",\"nodes\":" + nodes(q.nodes());
    }

    private static String replicas(List<QuorumInfo.ReplicaState> replicas) {
        List<String> out = new ArrayList<>();
        for (QuorumInfo.ReplicaState r : replicas) {
            out.add("{\"replicaId\":" + r.replicaId() + ",\"replicaDirectoryId\":" + str(r.replicaDirectoryId().toString())
                    + ",\"logEndOffset\":" + r.logEndOffset() + ",\"lastFetchTimestamp\":"
                    + (r.lastFetchTimestamp().isPresent() ? r.lastFetchTimestamp().getAsLong() : "null")
                    + ",\"lastCaughtUpTimestamp\":"
                    + (r.lastCaughtUpTimestamp().isPresent() ? r.lastCaughtUpTimestamp().getAsLong() : "null") + "}");
        }
        return "[" + String.join(",", out) + "]";
    }

    private static String nodes(Map<Integer, QuorumInfo.Node> nodes) {
        List<String> out = new ArrayList<>();
        for (QuorumInfo.Node n : nodes.values()) {
            List<String> endpoints = new ArrayList<>();
            for (RaftVoterEndpoint e : n.endpoints()) {
                endpoints.add("{\"name\":" + str(e.name()) + ",\"host\":" + str(e.host()) + ",\"port\":" + e.port() + "}");
            }
            out.add("{\"nodeId\":" + n.nodeId() + ",\"endpoints\":[" + String.join(",", endpoints) + "]}");
        }
        return "[" + String.join(",", out) + "]";
    }

    private static String str(String s) {
        StringBuilder b = new StringBuilder("\"");
        for (char c : s.toCharArray()) {
            if (c == '"' || c == '\\') b.append('\\').append(c);
            else if (c < 0x20) b.append(String.format("\\u%04x", (int) c));
            else b.append(c);
        }
        return b.append('"').toString();
    }
}
