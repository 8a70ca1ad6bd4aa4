//! The bundled list of common passwords.

use unicode_normalization::UnicodeNormalization;

/// Frequently used passwords, all lower-case and unique, compared case-insensitively by
/// [`is_common_password`].
///
/// The list contains the passwords that top published leak statistics (digit runs, keyboard
/// walks, names, sports and pet words) and their usual dressings with capitals, digits and
/// symbols, such as `password1!` or `p@ssw0rd123!`. Those dressed forms meet every
/// composition rule, so only this list rejects them.
pub const COMMON_PASSWORDS: [&str; 122] = [
    // Digit runs and repetitions.
    "123456",
    "12345678",
    "123456789",
    "1234567890",
    "1234567",
    "12345",
    "1234",
    "111111",
    "11111111",
    "000000",
    "00000000",
    "123123",
    "123321",
    "654321",
    "987654321",
    "666666",
    "696969",
    "121212",
    "112233",
    "7777777",
    "88888888",
    "12341234",
    "147258369",
    // Keyboard walks.
    "qwerty",
    "qwerty1",
    "qwerty12",
    "qwerty123",
    "qwertyuiop",
    "qwe123",
    "asdfgh",
    "asdfghjkl",
    "asdf1234",
    "zxcvbnm",
    "1q2w3e",
    "1q2w3e4r",
    "1q2w3e4r5t",
    "q1w2e3r4t5",
    "1qaz2wsx",
    "zaq12wsx",
    "zaq1zaq1",
    "qazwsx",
    "1234qwer",
    "aa123456",
    "abc123",
    "abc12345",
    // Words and names.
    "password",
    "password1",
    "password12",
    "password123",
    "passw0rd",
    "p@ssword",
    "p@ssw0rd",
    "iloveyou",
    "letmein",
    "welcome",
    "welcome1",
    "admin",
    "admin123",
    "administrator",
    "login",
    "master",
    "hello",
    "secret",
    "changeme",
    "default",
    "guest",
    "test123",
    "trustno1",
    "whatever",
    "freedom",
    "sunshine",
    "princess",
    "dragon",
    "monkey",
    "shadow",
    "superman",
    "batman",
    "starwars",
    "pokemon",
    "computer",
    "internet",
    "football",
    "baseball",
    "soccer",
    "hockey",
    "liverpool",
    "chelsea",
    "arsenal",
    "mustang",
    "michael",
    "jennifer",
    "jordan",
    "daniel",
    "ashley",
    "charlie",
    "thomas",
    "robert",
    "maggie",
    "ginger",
    "pepper",
    "cookie",
    "cheese",
    "killer",
    "tigger",
    "buster",
    "matrix",
    "hunter2",
    // Dressed forms that meet the composition rules once capitalised.
    "password1!",
    "password123!",
    "p@ssw0rd1",
    "p@ssw0rd123!",
    "passw0rd!",
    "qwerty123!",
    "welcome1!",
    "welcome123!",
    "admin@123",
    "admin123!",
    "letmein1!",
    "iloveyou1!",
    "changeme1!",
    "summer2024!",
    "winter2024!",
];

/// Byte length of the longest entry of [`COMMON_PASSWORDS`].
const MAX_ENTRY_BYTES: usize = {
    let mut longest = 0;
    let mut i = 0;
    while i < COMMON_PASSWORDS.len() {
        if COMMON_PASSWORDS[i].len() > longest {
            longest = COMMON_PASSWORDS[i].len();
        }
        i += 1;
    }
    longest
};

/// Returns true when `password` is on [`COMMON_PASSWORDS`], ignoring case and Unicode
/// normalisation differences.
pub fn is_common_password(password: &str) -> bool {
    // Entries are ASCII, and folding turns at most three input bytes into one ASCII byte (the
    // Kelvin sign U+212A becomes `k`), so longer input cannot match and is not folded at all.
    if password.len() > MAX_ENTRY_BYTES * 3 {
        return false;
    }
    let folded: String = password.nfc().flat_map(char::to_lowercase).collect();
    COMMON_PASSWORDS.contains(&folded.as_str())
}
