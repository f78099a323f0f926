//! A small table of English given-name variants (nicknames and diminutives), written for Ferry
//! from common usage and released with it into the public domain (CC0): one group per line, the
//! formal name first. Two given names are "nickname" equivalent when they share a group.

use std::collections::HashMap;
use std::sync::OnceLock;

const GROUPS: &str = "\
abigail abby abbie gail
abraham abe bram
albert al bert bertie
alexander alex alec sandy xander lex
alexandra alex alexa sandra sandy lexi
alfred al alf fred freddie
alice allie ally alicia
allison allie ally
andrew andy drew
angela angie
anne ann annie nan nancy anna
anthony tony
arthur art artie
barbara barb barbie babs
benjamin ben benny benji
bernard bernie
beverly bev
bradley brad
carol carrie
caroline carrie carol callie
catherine cathy cate kate katie kathy kat
charles charlie chuck chas chaz
charlotte charlie lottie
christina chris tina christy
christine chris tina christy
christopher chris kit topher
cynthia cindy
daniel dan danny
david dave davey
deborah debbie deb debra
dennis denny
donald don donny
dorothy dot dottie
douglas doug
edward ed eddie ted ned
eleanor ellie nora elle
elizabeth liz beth betty betsy lizzie eliza libby bess
emily em emmy
eugene gene
frances fran frankie
francis frank fran
frederick fred freddie fritz
gabriel gabe
gerald gerry jerry
gregory greg
harold harry hal
harriet hattie
henry hank harry hal
isabel izzy bella belle isabella
jacob jake
james jim jimmy jamie
janet jan
jeffrey jeff
jennifer jen jenny
jessica jess jessie
john jack johnny jon
jonathan jon jonny nathan
joseph joe joey
joshua josh
judith judy
katherine kathy kate katie kat kathryn
kenneth ken kenny
kimberly kim
lawrence larry
leonard len lenny leo
louis lou
margaret maggie meg peggy marge margie greta
martha marty mattie
matthew matt
michael mike mikey mick mickey
nathaniel nate nathan nat
nicholas nick nicky
pamela pam
patricia pat patty trish tricia
patrick pat paddy
peter pete
philip phil
rebecca becky becca
richard rick ricky dick rich richie
robert rob bob bobby robbie bert
ronald ron ronnie
samantha sam sammie
samuel sam sammy
sandra sandy
stephanie steph
stephen steve stevie
steven steve stevie
susan sue susie suzy
terence terry
theodore ted teddy theo
thomas tom tommy
timothy tim timmy
victoria vicky tori
vincent vince vinny
virginia ginny
walter walt wally
william will bill billy willy liam
zachary zach zack
";

struct Table {
    /// name -> group numbers
    groups: HashMap<&'static str, Vec<u16>>,
}

fn table() -> &'static Table {
    static T: OnceLock<Table> = OnceLock::new();
    T.get_or_init(|| {
        let mut groups: HashMap<&'static str, Vec<u16>> = HashMap::new();
        for (g, line) in GROUPS.lines().enumerate() {
            for name in line.split_whitespace() {
                let e = groups.entry(name).or_default();
                let g = g as u16;
                if !e.contains(&g) {
                    e.push(g);
                }
            }
        }
        Table { groups }
    })
}

/// Whether two normalised (lower-case) given names are variants of one name.
pub fn same_name(a: &str, b: &str) -> bool {
    let t = table();
    match (t.groups.get(a), t.groups.get(b)) {
        (Some(x), Some(y)) => x.iter().any(|g| y.contains(g)),
        _ => false,
    }
}

/// Whether a name is in the table at all (a cheap filter before [`same_name`]).
pub fn known(a: &str) -> bool {
    table().groups.contains_key(a)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nicknames_share_a_group_and_strangers_do_not() {
        assert!(same_name("william", "bill"));
        assert!(same_name("bill", "liam"));
        assert!(same_name("al", "alfred"));
        assert!(same_name("al", "albert"));
        assert!(!same_name("albert", "alfred"));
        assert!(!same_name("john", "james"));
        assert!(!same_name("zzz", "zzz"));
        assert!(known("peggy"));
    }
}
