//! Azure region names: ARM resources of API Management echo display names (`West US`), storage accounts and
//! operation ids use the compact lower-case form (`westus`).

const REGIONS: [(&str, &str); 24] = [
    ("westus", "West US"),
    ("westus2", "West US 2"),
    ("westus3", "West US 3"),
    ("eastus", "East US"),
    ("eastus2", "East US 2"),
    ("centralus", "Central US"),
    ("northcentralus", "North Central US"),
    ("southcentralus", "South Central US"),
    ("westcentralus", "West Central US"),
    ("centraluseuap", "Central US EUAP"),
    ("eastus2euap", "East US 2 EUAP"),
    ("canadacentral", "Canada Central"),
    ("brazilsouth", "Brazil South"),
    ("northeurope", "North Europe"),
    ("westeurope", "West Europe"),
    ("uksouth", "UK South"),
    ("ukwest", "UK West"),
    ("francecentral", "France Central"),
    ("germanywestcentral", "Germany West Central"),
    ("swedencentral", "Sweden Central"),
    ("japaneast", "Japan East"),
    ("southeastasia", "Southeast Asia"),
    ("australiaeast", "Australia East"),
    ("centralindia", "Central India"),
];

/// `West US` or `westus` → `westus`. Unknown names are compacted the same way.
pub fn canonical(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    push_canonical(&mut out, name);
    out
}

/// [`canonical`], appended to `out`.
pub fn push_canonical(out: &mut String, name: &str) {
    out.extend(
        name.chars()
            .filter(|c| !c.is_whitespace())
            .map(|c| c.to_ascii_lowercase()),
    );
}

/// `westus` or `West US` → `West US`. Unknown names are returned as given.
pub fn display(name: &str) -> String {
    let c = canonical(name);
    REGIONS
        .iter()
        .find(|(k, _)| *k == c)
        .map(|(_, d)| d.to_string())
        .unwrap_or_else(|| name.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regions_convert_both_ways() {
        assert_eq!(canonical("West Central US"), "westcentralus");
        assert_eq!(display("eastus"), "East US");
        assert_eq!(display("East US"), "East US");
        assert_eq!(display("marsnorth"), "marsnorth");
    }
}
