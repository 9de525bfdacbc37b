"""Identity resolution: link every person record of every source to one district person key."""
