import sys
sys.exit(0)
def main():
    print("stub")
