//! `fgchaos validate`: every file checked against the local stack it would run on; each
//! problem printed; exit 3 if any file has one.

use fgchaos::cli::ValidateArgs;

use super::Exit;

pub fn validate(args: &ValidateArgs) -> Exit {
    let mut bad = 0;
    for s in &args.scenarios {
        match fgchaos::run::prepare::local(s, args.stack.as_deref()) {
            Ok(p) => outln!("{}: ok ({})", s.display(), p.scenario.name),
            Err(e) => {
                bad += 1;
                errln!("{e}");
            }
        }
    }
    Exit::unless_bad(bad)
}
