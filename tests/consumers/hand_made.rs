//! The bundled formats made by hand from `--format json`, in the shapes of
//! the formats' contract, until rollcall renders them itself.

use serde_json::Value;

fn endpoint(member: &Value) -> String {
    let address = member["address"].as_str().unwrap_or_default();
    let address = if address.contains(':') {
        format!("[{address}]")
    } else {
        address.to_owned()
    };
    match member["port"].as_u64() {
        Some(port) => format!("{address}:{port}"),
        None => address,
    }
}

fn addressed(document: &Value) -> Vec<&Value> {
    document["members"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|member| member["address"].is_string())
        .collect()
}

/// Members whose id, role and address are plain words (the rest left out).
fn plain(document: &Value) -> Vec<&Value> {
    addressed(document)
        .into_iter()
        .filter(|member| {
            ["instance_id", "role", "address"]
                .iter()
                .all(|key| super::hostile::is_plain(member[key].as_str().unwrap()))
        })
        .collect()
}

fn roles(document: &Value) -> Vec<String> {
    let mut roles: Vec<String> = plain(document)
        .iter()
        .map(|member| member["role"].as_str().unwrap().to_owned())
        .collect();
    roles.sort();
    roles.dedup();
    roles
}

pub fn render(document: &Value, format: &str) -> String {
    match format {
        "etcd-initial-cluster" => {
            let self_id = document["self"]["instance_id"].as_str().unwrap();
            let mut ids: Vec<&str> = document["register_with"]
                .as_array()
                .unwrap()
                .iter()
                .map(|target| target["instance_id"].as_str().unwrap())
                .chain([self_id])
                .filter(|id| super::hostile::is_plain(id))
                .collect();
            ids.sort();
            let entries: Vec<String> = ids
                .iter()
                .map(|id| {
                    let member = addressed(document)
                        .into_iter()
                        .find(|member| member["instance_id"] == *id)
                        .unwrap();
                    let port = member["port"].as_u64().unwrap_or(2380);
                    format!("{id}=http://{}:{port}", member["address"].as_str().unwrap())
                })
                .collect();
            format!("{}\n", entries.join(","))
        }
        "haproxy-backend" => {
            let mut text = String::new();
            for role in roles(document) {
                text += &format!("backend rollcall_{role}\n");
                for member in plain(document) {
                    if member["role"] == role.as_str() {
                        let check = if member["port"].is_u64() {
                            " check"
                        } else {
                            ""
                        };
                        text += &format!(
                            "    server {} {}{check}\n",
                            member["instance_id"].as_str().unwrap(),
                            endpoint(member)
                        );
                    }
                }
            }
            text
        }
        "nginx-upstream" => {
            let mut text = String::new();
            for role in roles(document) {
                text += &format!("upstream rollcall_{role} {{\n");
                for member in plain(document) {
                    if member["role"] == role.as_str() {
                        text += &format!("    server {};\n", endpoint(member));
                    }
                }
                text += "}\n";
            }
            text
        }
        "prometheus-file-sd" => {
            let groups: Vec<Value> = addressed(document)
                .into_iter()
                .map(|member| {
                    let clusters: Vec<&str> = member["clusters"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|c| c.as_str().unwrap())
                        .collect();
                    serde_json::json!({
                        "targets": [endpoint(member)],
                        "labels": {
                            "__meta_rollcall_instance_id": member["instance_id"],
                            "__meta_rollcall_role": member["role"],
                            "__meta_rollcall_clusters": format!(",{},", clusters.join(",")),
                        }
                    })
                })
                .collect();
            format!("{}\n", serde_json::to_string_pretty(&groups).unwrap())
        }
        "rabbitmq-classic-config" => {
            let self_id = document["self"]["instance_id"].as_str().unwrap();
            let mut ids: Vec<&str> = document["register_with"]
                .as_array()
                .unwrap()
                .iter()
                .map(|target| target["instance_id"].as_str().unwrap())
                .chain([self_id])
                .collect();
            ids.sort();
            let mut text = "cluster_formation.peer_discovery_backend = classic_config\n".to_owned();
            for (n, id) in ids.iter().enumerate() {
                let member = addressed(document)
                    .into_iter()
                    .find(|member| member["instance_id"] == *id)
                    .unwrap();
                text += &format!(
                    "cluster_formation.classic_config.nodes.{} = rabbit@{}\n",
                    n + 1,
                    member["address"].as_str().unwrap()
                );
            }
            text
        }
        other => panic!("no hand-made {other}"),
    }
}
