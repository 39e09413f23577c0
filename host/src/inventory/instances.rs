//! An inventory's instances, held in whichever form they came in: the
//! columns a reader filled ([`Fleet`]) or the host's owned
//! [`Instance`]s. Each form is made from the other only when first asked
//! for, so a fleet read from bytes goes to a policy as columns without ever
//! becoming a `Vec<Instance>`, and code that edits instances edits them as
//! before (which drops the columns, rebuilt when next asked for).

use super::{Fleet, FleetTooLarge, Instance};
use std::sync::OnceLock;

/// The instances of an [`Inventory`](super::Inventory). Reads as a
/// `Vec<Instance>` (through `Deref`); [`fleet`](Instances::fleet) gives
/// the columns.
#[derive(Clone, Default)]
pub struct Instances {
    /// The owned form, when given or edited.
    owned: Option<Vec<Instance>>,
    /// The owned form, when made from the columns on reading.
    listed: OnceLock<Vec<Instance>>,
    /// The columns, when given or made.
    columns: OnceLock<Fleet>,
}

impl Instances {
    /// The fleet in columns, made from the owned instances the first time.
    pub fn fleet(&self) -> Result<&Fleet, FleetTooLarge> {
        if let Some(fleet) = self.columns.get() {
            return Ok(fleet);
        }
        let fleet = Fleet::from_instances(self)?;
        Ok(self.columns.get_or_init(|| fleet))
    }

    /// How many instances, without making the owned form.
    pub fn len(&self) -> usize {
        match (&self.owned, self.listed.get(), self.columns.get()) {
            (Some(owned), _, _) | (None, Some(owned), _) => owned.len(),
            (None, None, Some(fleet)) => fleet.len(),
            (None, None, None) => 0,
        }
    }

    /// Whether there is no instance.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether an instance has this id, without making the owned form.
    pub fn contains_id(&self, id: &str) -> bool {
        match (&self.owned, self.columns.get()) {
            (None, Some(fleet)) => fleet.ids().any(|known| known == id),
            _ => self.iter().any(|instance| instance.id == id),
        }
    }

    /// The fleet in columns, without the owned instances it may have
    /// been made from.
    pub fn into_fleet(self) -> Result<Fleet, FleetTooLarge> {
        if let Some(fleet) = self.columns.get() {
            return Ok(fleet.clone());
        }
        Fleet::from_instances(&self)
    }
}

impl From<Vec<Instance>> for Instances {
    fn from(instances: Vec<Instance>) -> Self {
        Instances {
            owned: Some(instances),
            ..Instances::default()
        }
    }
}

impl From<Fleet> for Instances {
    fn from(fleet: Fleet) -> Self {
        Instances {
            columns: OnceLock::from(fleet),
            ..Instances::default()
        }
    }
}

impl FromIterator<Instance> for Instances {
    fn from_iter<I: IntoIterator<Item = Instance>>(iter: I) -> Self {
        Instances::from(iter.into_iter().collect::<Vec<_>>())
    }
}

impl std::ops::Deref for Instances {
    type Target = Vec<Instance>;

    fn deref(&self) -> &Vec<Instance> {
        match &self.owned {
            Some(owned) => owned,
            None => self.listed.get_or_init(|| {
                self.columns
                    .get()
                    .map_or_else(Vec::new, |fleet| fleet.instances())
            }),
        }
    }
}

impl std::ops::DerefMut for Instances {
    /// The owned instances to edit; the columns are dropped, since they
    /// would no longer say the same.
    fn deref_mut(&mut self) -> &mut Vec<Instance> {
        let columns = std::mem::take(&mut self.columns);
        let owned = match (self.owned.take(), self.listed.take()) {
            (Some(owned), _) | (None, Some(owned)) => owned,
            (None, None) => columns.get().map_or_else(Vec::new, Fleet::instances),
        };
        self.owned.insert(owned)
    }
}

impl IntoIterator for Instances {
    type Item = Instance;
    type IntoIter = std::vec::IntoIter<Instance>;

    fn into_iter(mut self) -> Self::IntoIter {
        std::mem::take(&mut *self).into_iter()
    }
}

impl<'a> IntoIterator for &'a Instances {
    type Item = &'a Instance;
    type IntoIter = std::slice::Iter<'a, Instance>;

    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

impl std::fmt::Debug for Instances {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(&**self, formatter)
    }
}

impl PartialEq for Instances {
    fn eq(&self, other: &Self) -> bool {
        **self == **other
    }
}

impl Eq for Instances {}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inventory::every_field;

    #[test]
    fn columns_given_read_as_the_instances_they_hold() {
        let owned: Vec<Instance> = (0..5).map(|n| every_field(n, "running")).collect();
        let instances = Instances::from(Fleet::from_instances(&owned).unwrap());
        assert_eq!(*instances, owned);
    }

    #[test]
    fn an_edit_drops_the_columns_and_they_are_made_again_from_the_edit() {
        let owned: Vec<Instance> = (0..3).map(|n| every_field(n, "running")).collect();
        let mut instances = Instances::from(Fleet::from_instances(&owned).unwrap());
        instances.fleet().unwrap();
        instances.retain(|instance| instance.id != "i-1");
        let fleet = instances.fleet().unwrap();
        assert_eq!(fleet.ids().collect::<Vec<_>>(), ["i-0", "i-2"]);
    }
}
