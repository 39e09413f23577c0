//! Who in an inventory a policy decides on.

use crate::{Instance, Inventory};

/// The inventory's self id, checked to name one of its instances; the error
/// names the unknown id. `None` when the host runs outside the fleet.
pub fn checked_self_id(inventory: &Inventory) -> Result<Option<&str>, String> {
    match inventory.self_id.as_deref() {
        Some(id) if !inventory.instances.iter().any(|instance| instance.id == id) => {
            Err(format!("self instance {id} is not in the inventory"))
        }
        self_id => Ok(self_id),
    }
}

/// The instances that may be members, in inventory order: every `running`
/// one, and self whatever its state (at boot EC2 may still report it
/// `pending`).
pub fn candidates(inventory: &Inventory) -> impl Iterator<Item = &Instance> {
    let self_id = inventory.self_id.as_deref();
    inventory.instances.iter().filter(move |instance| {
        instance.state == "running" || Some(instance.id.as_str()) == self_id
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::instance;

    fn inventory(self_id: Option<&str>) -> Inventory {
        Inventory {
            instances: vec![
                instance("i-running", "running"),
                instance("i-pending", "pending"),
                instance("i-stopping", "stopping"),
                instance("i-stopped", "stopped"),
                instance("i-going", "shutting-down"),
                instance("i-dead", "terminated"),
                instance("i-also-running", "running"),
            ],
            self_id: self_id.map(str::to_owned),
        }
    }

    fn candidate_ids(inventory: &Inventory) -> Vec<&str> {
        candidates(inventory)
            .map(|instance| instance.id.as_str())
            .collect()
    }

    #[test]
    fn a_known_self_is_returned() {
        let inventory = inventory(Some("i-stopped"));
        assert_eq!(checked_self_id(&inventory), Ok(Some("i-stopped")));
    }

    #[test]
    fn no_self_is_fine() {
        assert_eq!(checked_self_id(&inventory(None)), Ok(None));
    }

    #[test]
    fn an_unknown_self_is_an_error_naming_it() {
        let err = checked_self_id(&inventory(Some("i-nope"))).unwrap_err();
        assert_eq!(err, "self instance i-nope is not in the inventory");
    }

    #[test]
    fn only_running_instances_are_candidates() {
        assert_eq!(
            candidate_ids(&inventory(None)),
            ["i-running", "i-also-running"]
        );
    }

    #[test]
    fn self_is_a_candidate_whatever_its_state_in_inventory_order() {
        for self_id in ["i-pending", "i-stopping", "i-stopped", "i-going", "i-dead"] {
            assert_eq!(
                candidate_ids(&inventory(Some(self_id))),
                ["i-running", self_id, "i-also-running"]
            );
        }
    }

    #[test]
    fn a_running_self_is_listed_once() {
        assert_eq!(
            candidate_ids(&inventory(Some("i-running"))),
            ["i-running", "i-also-running"]
        );
    }
}
